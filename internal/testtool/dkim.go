package testtool

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// dkimVerifyScript runs python3-dkim (the library behind Debian's
// dkimverify) over every DKIM-Signature of the message on stdin, answering
// its DNS queries from the JSON map in argv[1] instead of the network.
const dkimVerifyScript = `
import sys, json, dkim
records = json.loads(sys.argv[1])
def dnsfunc(name, timeout=5):
    v = records.get(name.decode() if isinstance(name, bytes) else name)
    return v.encode() if v is not None else None
msg = sys.stdin.buffer.read()
d = dkim.DKIM(msg)
n = sum(1 for l in msg.split(b"\n") if l.lower().startswith(b"dkim-signature:"))
out = []
for i in range(n):
    try:
        ok = d.verify(idx=i, dnsfunc=dnsfunc)
    except dkim.ValidationError:
        ok = False
    out.append("ok" if ok else "fail")
print(" ".join(out))
`

// DKIMVerify checks every DKIM signature of msg with python3-dkim, given the
// TXT records by name (e.g. "sel._domainkey.example.com."). It returns one
// "ok" or "fail" per signature, in header order.
func DKIMVerify(t testing.TB, msg []byte, records map[string]string) []string {
	t.Helper()
	Require(t, "dkimverify") // the Debian package that ships the library
	py := "/usr/bin/python3"
	if _, err := exec.LookPath(py); err != nil {
		py = Require(t, "python3")
	}
	recs, _ := json.Marshal(records)
	cmd := exec.Command(py, "-c", dkimVerifyScript, string(recs))
	cmd.Stdin = bytes.NewReader(msg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3-dkim: %v\n%s", err, errb.String())
	}
	return strings.Fields(out.String())
}

package delivery

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// Error is an SMTP-meaningful failure: a reply from a remote server or a
// local condition (DNS, TLS, network) expressed as one. Msg never contains
// message content; remote reply text is trimmed and bounded.
type Error struct {
	Code      int    // SMTP reply code, e.g. 451 or 550
	Enhanced  string // RFC 3463 enhanced status code, e.g. "4.4.1"
	Temporary bool   // true: retry later; false: bounce
	Msg       string // human-readable reason, no message content

	tlsFloor bool // the failure is "this host cannot give the TLS level needed"
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s %s", e.Code, e.Enhanced, e.Msg)
}

// maxReplyText bounds the remote reply text kept in results and logs.
const maxReplyText = 256

func tempErr(code int, enh, format string, args ...any) *Error {
	return &Error{Code: code, Enhanced: enh, Temporary: true, Msg: fmt.Sprintf(format, args...)}
}

// tlsErr is a temporary failure to reach the TLS floor on one host.
func tlsErr(enh, format string, args ...any) *Error {
	e := tempErr(451, enh, format, args...)
	e.tlsFloor = true
	return e
}

func permErr(code int, enh, format string, args ...any) *Error {
	return &Error{Code: code, Enhanced: enh, Temporary: false, Msg: fmt.Sprintf(format, args...)}
}

// fromSMTP converts a go-smtp reply error into an *Error. It returns nil when
// err is not an SMTP reply (network and protocol errors).
func fromSMTP(err error) *Error {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return nil
	}
	enh := ""
	if se.EnhancedCode != smtp.NoEnhancedCode && se.EnhancedCode[0] > 0 {
		enh = fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	class := se.Code / 100
	if enh == "" || int(enh[0]-'0') != class {
		// RFC 3463 §2: the class of the enhanced code matches the reply.
		switch class {
		case 2, 4, 5:
			enh = fmt.Sprintf("%d.0.0", class)
		default:
			enh = "4.0.0"
		}
	}
	return &Error{
		Code:      se.Code,
		Enhanced:  enh,
		Temporary: class != 5,
		Msg:       cleanReply(se.Message),
	}
}

// cleanReply makes remote reply text safe to store and log: one line,
// printable ASCII, at most maxReplyText bytes.
func cleanReply(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			if !space && b.Len() > 0 {
				b.WriteByte(' ')
				space = true
			}
			continue
		}
		if r == ' ' && space {
			continue
		}
		space = r == ' '
		b.WriteRune(r)
		if b.Len() >= maxReplyText {
			break
		}
	}
	return strings.TrimSpace(b.String())
}

func hexDecode(s string) ([]byte, error) {
	return hex.DecodeString(s)
}

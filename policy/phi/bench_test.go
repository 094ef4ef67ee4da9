package phi

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plainCorpus is realistic mixed plain text: mostly ordinary business
// prose with some clinical text, identifiers and numbers, about 1 MiB.
func plainCorpus() []byte {
	paras := []string{
		"Hi team, the quarterly budget review moved to Thursday at 10:30 in room 4-210. Please bring the vendor quotes, the updated headcount plan and the numbers for cost center 441-20-118. Invoice 88213 for $4,210.00 is still open.\n",
		"Patient: Maria Okafor, DOB 03/14/1962, MRN 00734412. Seen today for follow-up of type 2 diabetes and hypertension. HbA1c 7.9 %, LDL 162 mg/dL. Continue metformin 500 mg twice daily and lisinopril 10 mg. Return in 3 months.\n",
		"The new badge printers arrive next week. IT will install firmware 4.12.7 on all units and retire the old server at 10.20.3.14. Ticket CHG0012345 tracks the work; call the service desk at (217) 555-0142 with questions.\n",
		"Flu shots are available now at all locations. Most adults should get a flu shot every year; people with asthma, diabetes or heart disease are at higher risk of complications. Talk to your doctor about which vaccine is right for you.\n",
		"Your order #448120937 has shipped and should arrive by Friday. Tracking number 1Z999AA10123456784. Thank you for shopping with Contoso Medical Supply, 420 Harbor View Blvd, Springfield, IL 62704.\n",
	}
	var b bytes.Buffer
	for i := 0; b.Len() < 1<<20; i++ {
		b.WriteString(paras[i%len(paras)])
	}
	return b.Bytes()
}

// BenchmarkScanPlainText measures the detector alone on plain text.
func BenchmarkScanPlainText(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	text := plainCorpus()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		m := s.newMsg(false)
		m.scanUnit("body", text)
		_ = m.result()
	}
	reportCPU(b, c0, len(text))
}

// reportCPU adds an "MB/cpu-s" metric: bytes scanned per CPU second of this
// process (GC included), which is what "MB/s per core" means.
func reportCPU(b *testing.B, c0 float64, bytesPerOp int) {
	if c1 := cpuSeconds(); c1 > c0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/(c1-c0)/1e6, "MB/cpu-s")
	}
}

// BenchmarkScanProse measures ordinary business and newsletter prose (the
// bulk of outbound mail): few numbers, no identifiers.
func BenchmarkScanProse(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	paras := []string{
		"Thank you all for joining the planning session yesterday. As discussed, the facilities team will share the revised floor plan with department leads before the end of the month, and we will collect feedback through the usual survey.\n",
		"The cafeteria will close early on Friday for the holiday celebration. Please remember to bring a dish to share and sign up on the list posted near the main entrance so that we can plan the seating.\n",
		"Our winter newsletter is here! This season we are highlighting volunteers who make the community garden thrive, sharing tips for staying active indoors, and announcing the dates of the spring open house.\n",
	}
	var buf bytes.Buffer
	for i := 0; buf.Len() < 1<<20; i++ {
		buf.WriteString(paras[i%len(paras)])
	}
	text := buf.Bytes()
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		m := s.newMsg(false)
		m.scanUnit("body", text)
		_ = m.result()
	}
	reportCPU(b, c0, len(text))
}

// BenchmarkScanMessagePlain measures Scan on a single-part text/plain
// message (MIME parsing included).
func BenchmarkScanMessagePlain(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	text := plainCorpus()
	msg := append([]byte("From: a@example.com\r\nTo: b@example.org\r\nSubject: weekly notes\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"), bytes.ReplaceAll(text, []byte("\n"), []byte("\r\n"))...)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		if _, err := s.Scan(bytes.NewReader(msg)); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0, len(msg))
}

// BenchmarkScanMixedCorpus scans every message of the labelled corpus
// (QP, base64, HTML, CSV, DOCX, XLSX, PDF, RTF, zip, nested messages).
func BenchmarkScanMixedCorpus(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	var msgs [][]byte
	total := 0
	for _, dir := range []string{"../../testdata/phi/generated", "../../testdata/phi/hand"} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".eml") {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, data)
			total += len(data)
		}
	}
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuSeconds()
	for i := 0; i < b.N; i++ {
		for _, m := range msgs {
			if _, err := s.Scan(bytes.NewReader(m)); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, c0, total)
}

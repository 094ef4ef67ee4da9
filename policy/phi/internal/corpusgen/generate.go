package corpusgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Message is one labelled corpus message.
type Message struct {
	Name     string // file name, e.g. "pos-lab-html-003.eml"
	PHI      bool
	Category string
	Data     []byte
}

type template struct {
	category string
	phi      bool
	count    int
	make     func(g *gen, i int) (Header, Part)
}

// Seed is the fixed seed of the committed corpus.
const Seed = 20261204

// Generate returns the generated corpus for seed.
func Generate(seed uint64) []Message {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x5ea1))}
	var out []Message
	for _, t := range templates() {
		for i := 0; i < t.count; i++ {
			h, p := t.make(g, i)
			prefix := "neg"
			if t.phi {
				prefix = "pos"
			}
			name := fmt.Sprintf("%s-%s-%03d.eml", prefix, t.category, i+1)
			full := append(Header{
				{"From", fmt.Sprintf("%s <noreply@%s.example>", g.pick(clinics...), g.pick("northfield", "lakeside", "riverbend", "acme", "contoso"))},
				{"To", fmt.Sprintf("%s %s <user%d@example.org>", g.pick(firstNames...), g.pick(lastNames...), g.n(1, 999))},
				{"Date", fmt.Sprintf("Fri, %d Nov 2026 %02d:%02d:00 +0000", g.n(1, 28), g.n(7, 18), g.n(0, 59))},
				{"Message-ID", fmt.Sprintf("<%s.%d@corpus.sealgate.example>", strings.TrimSuffix(name, ".eml"), seed)},
			}, h...)
			out = append(out, Message{Name: name, PHI: t.phi, Category: t.category, Data: Mail(full, p, i)})
		}
	}
	return out
}

func subj(s string) Header { return Header{{"Subject", EncodeSubject(s)}} }

func templates() []template {
	return []template{
		// ---------------- PHI ----------------
		{"appointment", true, 12, func(g *gen, i int) (Header, Part) {
			p := g.person()
			c := g.pick(clinics...)
			body := fmt.Sprintf("Dear %s %s,\n\nThis is a reminder of your upcoming appointment with %s at %s on %s at %d:%02d %s for your %s.\n\nPatient: %s %s\nDate of birth: %s\n\nPlease arrive 15 minutes early and bring your insurance card.\nTo reschedule call %s.\n\n%s\n%s\n%s\n",
				p.First, p.Last, g.pick(doctors...), c, g.pick("December 3", "December 9", "January 14"), g.n(8, 11), g.n(0, 3)*15, g.pick("AM", "PM"), p.Proc, p.First, p.Last, g.pick(p.DOB, p.DOBLong), p.Phone, c, fmt.Sprintf("%d Harbor View Blvd", g.n(100, 999)), g.pick(cities...))
			if i%3 == 0 {
				return subj("Appointment reminder"), Part{Type: `text/plain; charset="utf-8"`, Encoding: "quoted-printable", Body: []byte(body)}
			}
			return subj("Your appointment on " + g.pick("Dec 3", "Dec 9", "Jan 14")), Text(body)
		}},
		{"lab-html", true, 12, func(g *gen, i int) (Header, Part) {
			p := g.person()
			var rows strings.Builder
			for k := 0; k < 3; k++ {
				l := labs[g.r.IntN(len(labs))]
				fmt.Fprintf(&rows, "<tr><td>%s</td><td>%s %s</td><td>%s</td></tr>\n", l[0], l[2], l[1], g.pick("H", "L", "H"))
			}
			html := fmt.Sprintf(`<html><head><style>td{padding:4px}</style></head><body><p>Hello %s,</p><p>Your lab results from %s are below. %s has reviewed them.</p>
<table><tr><th>Test</th><th>Result</th><th>Flag</th></tr>
%s</table><p>MRN: %s</p><p style="color:#888">%s</p></body></html>`, p.First, g.pick("November 20", "November 24"), g.pick(doctors...), rows.String(), p.MRN, g.pick(clinics...))
			text := fmt.Sprintf("Hello %s,\nYour lab results are available in the portal.\n", p.First)
			return subj("Your lab results"), Alternative(Text(text), HTML(html))
		}},
		{"referral", true, 10, func(g *gen, i int) (Header, Part) {
			p := g.person()
			body := fmt.Sprintf("Dear %s,\n\nI am referring my patient %s %s (DOB %s, MRN %s) for evaluation of %s.\nDiagnosis: %s (ICD-10 %s)\nCurrent medications: %s\n\nReferring provider NPI: %s\n\nThank you,\n%s\n%s\nPhone %s\n",
				g.pick(doctors...), p.First, p.Last, p.DOB, p.MRN, p.Cond, p.Cond, icd[p.Cond], p.Med, g.npi(), g.pick(doctors...), g.pick(clinics...), p.Phone)
			return subj("Referral: " + p.Last), Text(body)
		}},
		{"claim-csv", true, 10, func(g *gen, i int) (Header, Part) {
			var csv strings.Builder
			csv.WriteString("Member ID,Patient Name,DOB,Date of Service,CPT,ICD-10,Billed\n")
			for k := 0; k < 4; k++ {
				p := g.person()
				fmt.Fprintf(&csv, "%s,%s %s,%s,11/%02d/2026,%d,%s,%d.00\n", p.Member, p.First, p.Last, p.DOB, g.n(1, 28), g.pick2(99202, 99215, 80048, 80061), icd[p.Cond], g.n(80, 900))
			}
			body := "Hi team,\n\nAttached is the weekly denied-claims file for review.\n\nThanks,\nBilling Office\n"
			return subj("Denied claims - week 47"), Mixed(Text(body), Attach("text/csv", "denied_claims_w47.csv", []byte(csv.String())))
		}},
		{"subject-only", true, 8, func(g *gen, i int) (Header, Part) {
			p := g.person()
			s := g.pick(
				fmt.Sprintf("Patient %s %s DOB %s - results", p.First, p.Last, p.DOB),
				fmt.Sprintf("SSN %s for enrollment", p.SSN),
				fmt.Sprintf("MRN %s follow up", p.MRN),
			)
			return subj(s), Text("Please see the portal.\n\nThanks\n")
		}},
		{"attach-docx", true, 8, func(g *gen, i int) (Header, Part) {
			p := g.person()
			doc := DOCX([]string{"Discharge Summary", "Patient Name: " + p.First + " " + p.Last, "MRN: " + p.MRN + "\tDOB: " + p.DOB, "Admitting diagnosis: " + p.Cond, "Discharge medications: " + p.Med, "Follow-up appointment in 2 weeks."})
			return subj("Document for review"), Mixed(Text("Please review the attached document before Friday.\n"), Attach("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "summary.docx", doc))
		}},
		{"attach-xlsx", true, 8, func(g *gen, i int) (Header, Part) {
			rows := [][]string{{"Name", "Date of Birth", "SSN", "Plan"}}
			for k := 0; k < 5; k++ {
				p := g.person()
				rows = append(rows, []string{p.First + " " + p.Last, p.DOB, p.SSN, g.pick("PPO Gold", "HMO Basic")})
			}
			return subj("Enrollment roster"), Mixed(Text("Roster attached.\n"), Attach("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "roster.xlsx", XLSX(rows)))
		}},
		{"attach-pdf", true, 8, func(g *gen, i int) (Header, Part) {
			p := g.person()
			pdf := PDF([]string{"Riverbend Health Partners - Visit Summary", "Patient: " + p.First + " " + p.Last, "Medical Record Number: " + p.MRN, "Assessment: " + p.Cond, "Plan: start " + p.Med}, i%2 == 0)
			return subj("Visit summary"), Mixed(Text("Attached as requested.\n"), Attach("application/pdf", "visit.pdf", pdf))
		}},
		{"attach-rtf", true, 5, func(g *gen, i int) (Header, Part) {
			p := g.person()
			rtf := RTF([]string{"Progress note", "Patient: " + p.First + " " + p.Last, "Medicare ID: " + p.MBI, "Diagnosed with " + p.Cond + " in 2019."})
			return subj("Note"), Mixed(Text("See note.\n"), Attach("application/rtf", "note.rtf", rtf))
		}},
		{"base64", true, 8, func(g *gen, i int) (Header, Part) {
			p := g.person()
			body := fmt.Sprintf("Employee benefits change for %s %s.\nSocial Security Number: %s\nEffective 01/01/2027.\n", p.First, p.Last, p.SSN)
			return subj("Benefits change"), Part{Type: `text/plain; charset="utf-8"`, Encoding: "base64", Body: []byte(body)}
		}},
		{"qp-split", true, 8, func(g *gen, i int) (Header, Part) {
			p := g.person()
			// Split the identifier across a quoted-printable soft line break.
			id := p.SSN
			label := "SSN"
			if i%2 == 1 {
				id, label = p.MBI, "Medicare MBI"
			}
			cut := 2 + g.r.IntN(len(id)-3)
			line := fmt.Sprintf("Please update the record for %s %s, %s %s", p.First, p.Last, label, id[:cut])
			raw := line + "=\r\n" + id[cut:] + " before the audit.\r\nThank you.\r\n"
			return subj("Record update"), Part{Type: `text/plain; charset="utf-8"`, Encoding: "quoted-printable", Body: []byte(raw), RawBody: true}
		}},
		{"spanish", true, 10, func(g *gen, i int) (Header, Part) {
			p := g.person()
			body := g.pick(
				fmt.Sprintf("Estimada %s %s:\n\nLe recordamos su cita con %s el 9 de diciembre para su %s.\nPaciente: %s %s\nFecha de nacimiento: %s\n\nSaludos,\nClínica Riverbend\n", p.First, p.Last, g.pick(doctors...), g.pick("colonoscopía", "mamografía", "cirugía"), p.First, p.Last, p.DOB),
				fmt.Sprintf("Hola %s,\n\nSus resultados de laboratorio están listos. Su glucosa fue 212 mg/dL y su hemoglobina A1c 8.1%%.\nNúmero de expediente: %s\n\nAtentamente,\nLaboratorio Central\n", p.First, p.MRN),
				fmt.Sprintf("Paciente: %s %s\nNúmero de seguro social: %s\nDiagnóstico: diabetes tipo 2\n", p.First, p.Last, p.SSN),
			)
			return subj("Información de su cita médica"), Part{Type: `text/plain; charset="utf-8"`, Encoding: "quoted-printable", Body: []byte(body)}
		}},
		{"forwarded", true, 6, func(g *gen, i int) (Header, Part) {
			p := g.person()
			inner := Mail(Header{{"From", "intake@riverbend.example"}, {"To", "frontdesk@riverbend.example"}, {"Subject", "New patient intake"}, {"Date", "Thu, 19 Nov 2026 10:00:00 +0000"}},
				Text(fmt.Sprintf("New patient: %s %s\nDOB: %s\nMember ID: %s\nReason for visit: %s\n", p.First, p.Last, p.DOB, p.Member, p.Cond)), 900+i)
			return subj("Fwd: New patient intake"), Mixed(Text("FYI, see below.\n"), Part{Type: "message/rfc822", Disposition: "attachment", Filename: "intake.eml", Body: inner})
		}},
		{"prescription", true, 6, func(g *gen, i int) (Header, Part) {
			p := g.person()
			body := fmt.Sprintf("Pharmacy,\n\nPlease fill for patient %s %s, DOB %s:\n%s, take one tablet daily, #30, refills 2.\n\nPrescriber DEA: %s\nNPI: %s\n", p.First, p.Last, p.DOB, p.Med, g.dea("Feld"), g.npi())
			return subj("Rx request"), Text(body)
		}},
		{"card-billing", true, 5, func(g *gen, i int) (Header, Part) {
			p := g.person()
			body := fmt.Sprintf("Hello %s,\n\nThank you for your payment for your visit on 11/14/2026 (%s).\nCard number: %s\nDate of service: 11/14/2026\nMember ID: %s\n", p.First, p.Proc, g.card(), p.Member)
			return subj("Payment receipt"), Text(body)
		}},
		{"unscannable", true, 6, func(g *gen, i int) (Header, Part) {
			att := []Part{
				Attach("application/zip", "records.zip", EncryptedZip("records.csv")),
				Attach("application/pdf", "chart.pdf", EncryptedPDF()),
				Attach("application/pdf", "scan.pdf", ScannedPDF()),
				Attach("application/msword", "legacy.doc", append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 512)...)),
				Attach("application/octet-stream", "export.bin", []byte{0, 1, 2, 3, 0xff, 0xfe, 0, 0, 9, 8, 7}),
				Attach("image/png", "wound-photo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")),
			}[i%6]
			return subj("Files"), Mixed(Text("Password sent separately.\n"), att)
		}},

		// ---------------- not PHI ----------------
		{"newsletter", false, 14, func(g *gen, i int) (Header, Part) {
			c := g.pick(conditions...)
			html := fmt.Sprintf(`<html><body><h1>%s Health Matters - %s</h1>
<p>Living with %s? You are not alone. Many people manage it with medicines such as %s and regular check-ups.</p>
<p>Experts recommend keeping your A1C below 7%% and your blood pressure under 130/80. Talk to your doctor about a %s.</p>
<p>Flu shots are available now. Schedule your appointment online or call %s.</p>
<hr><p style="font-size:10px">%s &middot; %d Harbor View Blvd, %s &middot; <a href="https://example.org/unsubscribe">Unsubscribe</a></p>
<img src="cid:logo" alt="logo"></body></html>`, g.pick(clinics...), g.pick("November", "December"), c, g.pick(meds...), g.pick(procs...), fmt.Sprintf("(%d) 555-01%02d", g.n(201, 989), g.n(0, 99)), g.pick(clinics...), g.n(100, 999), g.pick(cities...))
			logo := Part{Type: "image/png", Encoding: "base64", Disposition: "inline", Body: []byte("\x89PNG\r\n\x1a\nlogo")}
			if i%2 == 0 {
				return subj("Your monthly health newsletter"), Part{Type: "multipart/related", Parts: []Part{HTML(html), logo}}
			}
			return subj("Health tips for the season"), HTML(html)
		}},
		{"education", false, 12, func(g *gen, i int) (Header, Part) {
			c := g.pick(conditions...)
			body := fmt.Sprintf("What is %s?\n\n%s affects millions of adults. Common treatments include %s and lifestyle changes. A %s may be recommended after age 45. Typical targets: LDL under 100 mg/dL, fasting glucose between 70 and 99 mg/dL.\n\nThis article is for general education and does not replace advice from your doctor.\nICD-10 codes such as E11.9 and I10 are used for billing these conditions.\n", c, strings.ToUpper(c[:1])+c[1:], g.pick(meds...), g.pick(procs...))
			return subj("Understanding " + c), Text(body)
		}},
		{"hr", false, 14, func(g *gen, i int) (Header, Part) {
			p := g.person()
			body := g.pick(
				fmt.Sprintf("Hi all,\n\nOpen enrollment ends December 15. Employee ID %s, please confirm your dependents in Workday.\nQuestions? Call HR at %s or visit room 4-210.\n\nOrder 123-45-6789 for new badges has shipped (tracking 1Z999AA10123456784).\nThe SSN field in the old system showed test values like %s and %s, which are not valid.\n",
					g.digits(6), p.Phone, g.invalidSSN(), g.invalidSSN()),
				fmt.Sprintf("Team,\n\nReminder: the holiday party is on 12/18/2026 at 6:30 PM, %d Beacon Street, Suite 300.\nRSVP to %s %s by 12/10. Parking validation code %s.\n\nThanks,\nPeople Ops\n", g.n(10, 999), p.First, p.Last, g.digits(6)),
				fmt.Sprintf("Hello %s,\n\nWelcome aboard! Your start date is 01/05/2027. Your employee number is %s and your desk phone is %s.\nPlease bring two forms of ID for your I-9.\n\nBest,\nHR\n", p.First, g.digits(7), p.Phone),
			)
			return subj(g.pick("Open enrollment reminder", "Holiday party", "Welcome to the team")), Text(body)
		}},
		{"it", false, 12, func(g *gen, i int) (Header, Part) {
			body := fmt.Sprintf("Change ticket CHG%s\n\nServer db-%02d (10.20.%d.%d) will be patched to version 4.12.%d on 2026-12-05 22:00 UTC.\nCVE-2026-%s is addressed. Rollback plan: snapshot %s.\nLicense key: %s-%s-%s\nMAC 00:1A:2B:%02X:%02X:%02X, serial number %s.\nBridge line: +1 %d 555 01%02d, PIN %s#\n",
				g.digits(7), g.n(1, 40), g.n(0, 255), g.n(0, 255), g.n(0, 30), g.digits(5), g.digits(12), strings.ToUpper(g.pick("1SL4", "9ZB2", "2OI8")), "TE5", "MK73", g.n(0, 255), g.n(0, 255), g.n(0, 255), g.digits(10), g.n(201, 989), g.n(0, 99), g.digits(9))
			return subj("Maintenance window"), Text(body)
		}},
		{"business", false, 14, func(g *gen, i int) (Header, Part) {
			body := g.pick(
				fmt.Sprintf("Invoice %s\n\nAmount due: $%d.%02d by 12/31/2026.\nRemit to: %s, routing number %s, account number %s.\nPO # %s. Questions: %s.\n", g.digits(8), g.n(100, 99999), g.n(0, 99), g.pick("Acme Medical Supply", "Contoso Linen"), g.aba(), g.digits(10), g.digits(6), fmt.Sprintf("(%d) 555-01%02d", g.n(201, 989), g.n(0, 99))),
				fmt.Sprintf("Your order #%s has shipped.\nTracking number: %s\nItems: 2 x nitrile gloves (box of 100), 1 x digital thermometer.\nCard ending in %s was charged $%d.%02d.\n", g.digits(9), "1Z"+strings.ToUpper(g.digits(16)), g.digits(4), g.n(10, 900), g.n(0, 99)),
				fmt.Sprintf("Hi,\n\nThe Q4 budget review moved to 12/08. Please bring the numbers for cost center %s-%s-%s and the vendor quote %s.\nTest card for the sandbox: %s (expected to fail validation).\n\nRegards,\nFinance\n", g.digits(3), g.digits(2), g.digits(4), g.digits(12), g.badCard()),
			)
			return subj(g.pick("Invoice", "Order shipped", "Budget review")), Text(body)
		}},
		{"marketing", false, 10, func(g *gen, i int) (Header, Part) {
			html := fmt.Sprintf(`<html><body><p>Dear Valued Customer,</p><p>Save 20%% on first-aid kits this week with promo code %s. Offer valid through 12/31/2026.</p><p>Call 1-800-555-01%02d or visit our store at %d Market Street.</p><p>Item # %s-%s-%s</p></body></html>`, strings.ToUpper(g.digits(6)), g.n(0, 99), g.n(10, 999), g.digits(5), g.digits(3), g.digits(2))
			return subj("This week only"), Alternative(Text("Save 20% this week."), HTML(html))
		}},
		{"spanish", false, 8, func(g *gen, i int) (Header, Part) {
			body := fmt.Sprintf("Estimados vecinos:\n\nLa campaña de vacunación contra la gripe será el sábado 12 de diciembre en el centro comunitario, %d Calle Mayor.\nLa diabetes y la hipertensión se pueden controlar con una buena alimentación.\nPara más información llame al (%d) 555-01%02d.\n\nPedido %s confirmado.\n", g.n(10, 999), g.n(201, 989), g.n(0, 99), g.digits(8))
			return subj("Campaña de vacunación"), Part{Type: `text/plain; charset="iso-8859-1"`, Encoding: "quoted-printable", Body: latin1(body)}
		}},
		{"calendar", false, 6, func(g *gen, i int) (Header, Part) {
			ics := fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20261208T150000Z\r\nSUMMARY:Quality committee\r\nLOCATION:Conference room B / +1 %d-555-01%02d PIN %s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", g.n(201, 989), g.n(0, 99), g.digits(8))
			return subj("Invitation: Quality committee"), Mixed(Text("Agenda: readmission rates, hand hygiene audit results (92%), budget.\n"), Part{Type: `text/calendar; charset="utf-8"; method=REQUEST`, Body: []byte(ics)})
		}},
		{"attachments", false, 8, func(g *gen, i int) (Header, Part) {
			att := []Part{
				Attach("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "inventory.xlsx", XLSX([][]string{{"SKU", "Item", "Qty", "Unit price"}, {"GL-" + g.digits(5), "Nitrile gloves", "400", "0.12"}, {"TH-" + g.digits(5), "Thermometer", "12", "14.99"}})),
				Attach("application/pdf", "minutes.pdf", PDF([]string{"Facilities committee minutes", "Parking lot resurfacing approved, budget $48,200.", "Next meeting 01/12/2027."}, true)),
				Attach("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "policy.docx", DOCX([]string{"Visitor policy", "Visitors must sign in at the front desk.", "Masks are recommended during flu season."})),
				Attach("text/csv", "schedule.csv", []byte("Shift,Unit,Staff count\nDay,3 West,12\nNight,3 West,8\n")),
			}[i%4]
			return subj("Files for the meeting"), Mixed(Text("Attached for tomorrow.\n"), att)
		}},
	}
}

func latin1(s string) []byte {
	var b []byte
	for _, r := range s {
		if r < 0x100 {
			b = append(b, byte(r))
		} else {
			b = append(b, '?')
		}
	}
	return b
}

package phi

import (
	"slices"
	"strings"
	"testing"
)

type detCase struct {
	name string
	text string
	has  []string // kinds that must be found
	not  []string // kinds that must not be found
	phi  int      // 1 PHI, 0 not PHI, -1 do not care
}

func runDetCases(t *testing.T, s *Scanner, cases []detCase) {
	t.Helper()
	for _, tc := range cases {
		res := s.ScanText(tc.text)
		for _, k := range tc.has {
			if !slices.Contains(res.Kinds, k) {
				t.Errorf("%s: kind %q not found in %v", tc.name, k, res.Kinds)
			}
		}
		for _, k := range tc.not {
			if slices.Contains(res.Kinds, k) {
				t.Errorf("%s: kind %q found but should not be (%v)", tc.name, k, res.Kinds)
			}
		}
		if tc.phi >= 0 && res.PHI != (tc.phi == 1) {
			t.Errorf("%s: phi = %v (score %.2f, kinds %v), want %v", tc.name, res.PHI, res.Score, res.Kinds, tc.phi == 1)
		}
	}
}

func newScanner(t *testing.T, o Options) *Scanner {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSSN(t *testing.T) {
	runDetCases(t, newScanner(t, Options{}), []detCase{
		{"labelled dashed", "SSN: 512-44-8821", []string{KindSSN}, nil, 1},
		{"labelled spaced", "Social Security Number 512 44 8821", []string{KindSSN}, nil, 1},
		{"labelled bare", "SS#: 512448821", []string{KindSSN}, nil, 1},
		{"spanish label", "Número de seguro social: 512-44-8821", []string{KindSSN}, nil, 1},
		{"unlabelled dashed with a name", "Patient: Maria Okafor\n512-44-8821", []string{KindSSN}, nil, 1},
		{"unlabelled dashed near patient context", "Your lab results are attached. 512-44-8821", []string{KindSSN}, nil, 1},
		// hard negatives
		{"area 000", "SSN: 000-44-8821", nil, []string{KindSSN}, 0},
		{"area 666", "SSN: 666-44-8821", nil, []string{KindSSN}, 0},
		{"area 9xx", "SSN: 912-44-8821", nil, []string{KindSSN}, 0},
		{"group 00", "SSN: 512-00-8821", nil, []string{KindSSN}, 0},
		{"serial 0000", "SSN: 512-44-0000", nil, []string{KindSSN}, 0},
		{"order number", "Order 512-44-8821 shipped", nil, []string{KindSSN}, 0},
		{"unlabelled without a person", "Cost center 512-44-8821 is over budget", nil, []string{KindSSN}, 0},
		{"bare 9 digits without label", "Reference 512448821 for your records", nil, []string{KindSSN}, 0},
		{"spaced without label", "code 512 44 8821", nil, []string{KindSSN}, 0},
		{"part of a longer number", "SSN 512-44-88210", nil, []string{KindSSN}, 0},
		{"label too far", "SSN requirements for new hires are described in the handbook chapter that covers payroll and tax forms, see 512448821", nil, []string{KindSSN}, 0},
	})
}

func TestMRNAndIDs(t *testing.T) {
	runDetCases(t, newScanner(t, Options{}), []detCase{
		{"MRN colon", "MRN: 00734412", []string{KindMRN}, nil, 1},
		{"MRN hash", "MRN# 00734412", []string{KindMRN}, nil, 1},
		{"Med Rec No.", "Med Rec No. A0734412", []string{KindMRN}, nil, 1},
		{"medical record number", "Medical Record Number (MRN): 7730915", []string{KindMRN}, nil, 1},
		{"patient id", "Patient ID 4471-2209", []string{KindMRN}, nil, 1},
		{"chart number", "chart # 55120931", []string{KindMRN}, nil, 1},
		{"expediente", "Número de expediente: 55120931", []string{KindMRN}, nil, 1},
		{"member id", "Member ID: XJH123456789", []string{KindHealthPlanID}, nil, 1},
		{"group number", "Group number: 0077412", []string{KindHealthPlanID}, nil, 1},
		{"subscriber", "Subscriber ID WPN448120937", []string{KindHealthPlanID}, nil, 1},
		{"drivers license", "Driver's license: D4582219", []string{KindDriversLicense}, nil, -1},
		{"mbi plain", "MBI 1EG4TE5MK73", []string{KindMBI}, nil, 1},
		{"mbi dashed unlabelled", "beneficiary 1EG4-TE5-MK73 eligible", []string{KindMBI}, nil, 1},
		// hard negatives
		{"MRN too short", "MRN: 1234", nil, []string{KindMRN}, 0},
		{"MRN label then prose", "MRN and date of birth are required for all 2024 referrals", nil, []string{KindMRN}, 0},
		{"member since", "Member since 2019, thanks for 12345 points", nil, []string{KindHealthPlanID}, 0},
		{"mbi invalid letters", "License key 1SL4-TE5-MK73", nil, []string{KindMBI}, 0},
		{"mbi behind order", "Order 1EG4TE5MK73 shipped", nil, []string{KindMBI}, 0},
		{"mbi lower case", "code 1eg4te5mk73", nil, []string{KindMBI}, 0},
	})
}

func TestDOB(t *testing.T) {
	runDetCases(t, newScanner(t, Options{}), []detCase{
		{"slash", "DOB: 03/14/1962", []string{KindDOB}, nil, 0},
		{"two-digit year", "D.O.B. 3/14/62", []string{KindDOB}, nil, 0},
		{"iso", "Date of birth: 1962-03-14", []string{KindDOB}, nil, 0},
		{"dots", "Birth date 14.03.1962", []string{KindDOB}, nil, 0},
		{"month name", "Date of Birth: March 14, 1962", []string{KindDOB}, nil, 0},
		{"day month", "born 14 March 1962", []string{KindDOB}, nil, 0},
		{"spanish", "Fecha de nacimiento: 14 de marzo de 1962", []string{KindDOB}, nil, 0},
		{"dob with patient context is PHI", "DOB: 03/14/1962. Your lab results are ready.", []string{KindDOB}, nil, 1},
		{"dob with medication is PHI", "DOB 03/14/1962\nlisinopril 20 mg daily", []string{KindDOB}, nil, 1},
		// hard negatives
		{"date without label", "Meeting on 03/14/2026", nil, []string{KindDOB}, 0},
		{"invalid month", "DOB: 13/45/1962", nil, []string{KindDOB}, 0},
		{"born without date", "she was born in 1990", nil, []string{KindDOB}, 0},
	})
}

func TestCodes(t *testing.T) {
	runDetCases(t, newScanner(t, Options{}), []detCase{
		{"icd labelled", "Dx: E11.9", []string{KindICD10}, nil, 0},
		{"icd undotted labelled", "ICD-10 code J45909 recorded", []string{KindICD10}, nil, 0},
		{"icd dotted with health text", "Seen for diabetes, E11.65 noted", []string{KindICD10}, nil, 0},
		{"cpt labelled", "CPT 99213", []string{KindCPT}, nil, 0},
		{"hcpcs", "HCPCS code J1100 billed", []string{KindCPT}, nil, 0},
		{"ndc labelled", "NDC 0597-0152-30", []string{KindNDC}, nil, 0},
		{"ndc after medication", "Jardiance 10 mg 0597-0152-30", []string{KindNDC}, nil, 0},
		{"npi", "NPI: 1234567893", []string{KindNPI}, nil, 0},
		{"dea", "DEA# AB1234563", []string{KindDEA}, nil, 0},
		// hard negatives
		{"icd invalid category", "Dx: A10.2", nil, []string{KindICD10}, 0},
		{"icd-like version without health", "Release E11.9 of the firmware", nil, []string{KindICD10}, 0},
		{"cpt without label", "Room 99213 is on floor 9", nil, []string{KindCPT}, 0},
		{"npi bad check digit", "NPI: 1234567890", nil, []string{KindNPI}, 0},
		{"npi without label", "call 1234567893", nil, []string{KindNPI}, 0},
		{"dea bad check", "DEA AB1234564", nil, []string{KindDEA}, 0},
		{"dea without label", "part AB1234563", nil, []string{KindDEA}, 0},
		{"ndc-like without drug", "Item 0597-0152-30 restocked", nil, []string{KindNDC}, 0},
	})
}

func TestFinancial(t *testing.T) {
	runDetCases(t, newScanner(t, Options{}), []detCase{
		{"card grouped", "Card: 4111 1111 1111 1111", []string{KindCreditCard}, nil, 0},
		{"card dashed", "5555-5555-5555-4444", []string{KindCreditCard}, nil, 0},
		{"amex 4-6-5", "Amex 3782 822463 10005", []string{KindCreditCard}, nil, 0},
		{"card bare", "card number 4111111111111111", []string{KindCreditCard}, nil, 0},
		{"card with patient context", "Payment for your visit, card 4111 1111 1111 1111", []string{KindCreditCard}, nil, 1},
		{"routing", "Routing number: 021000021", []string{KindBankAccount}, nil, 0},
		{"bank account", "Bank account 483920118842, routing 021000021", []string{KindBankAccount}, nil, 0},
		// hard negatives
		{"luhn invalid", "Card: 4111 1111 1111 1112", nil, []string{KindCreditCard}, 0},
		{"tracking number", "Tracking number 4111111111111111", nil, []string{KindCreditCard}, 0},
		{"routing bad checksum", "Routing number: 021000022", nil, []string{KindBankAccount}, 0},
		{"account without bank context", "Account number 483920118842", nil, []string{KindBankAccount}, 0},
		{"ups tracking", "1Z999AA10123456784", nil, []string{KindCreditCard}, 0},
	})
}

func TestHealthTermsAndLabs(t *testing.T) {
	runDetCases(t, newScanner(t, Options{}), []detCase{
		{"medication", "Continue metformin twice daily", []string{KindMedication}, nil, 0},
		{"brand", "Started Ozempic last week", []string{KindMedication}, nil, 0},
		{"condition multiword", "history of atrial fibrillation", []string{KindDiagnosis}, nil, 0},
		{"condition apostrophe", "Crohn's disease flare", []string{KindDiagnosis}, nil, 0},
		{"spanish condition", "hipertensión controlada", []string{KindDiagnosis}, nil, 0},
		{"procedure", "scheduled colonoscopy", []string{KindProcedure}, nil, 0},
		{"lab with unit", "HbA1c 7.9 %", []string{KindLabResult}, nil, 0},
		{"lab colon", "Potassium: 5.9", []string{KindLabResult}, nil, 0},
		{"lab glued unit", "Glucose 212mg/dL", []string{KindLabResult}, nil, 0},
		{"blood pressure", "blood pressure 152/94 mmHg", []string{KindLabResult}, nil, 0},
		{"lab result word", "HIV test: reactive", []string{KindLabResult}, nil, 0},
		{"spanish result word", "prueba de embarazo positiva", []string{KindLabResult}, nil, 0},
		{"title surname with a lab value", "call back Mrs. Abernathy re: her INR, it was 4.2", []string{KindPatientName, KindLabResult}, nil, 1},
		// hard negatives
		{"lab target", "Keep your A1C below 7%", nil, []string{KindLabResult}, 0},
		{"lab range", "fasting glucose between 70 and 99 mg/dL", nil, []string{KindLabResult}, 0},
		{"lab then date", "A1C test scheduled on 12/05/2026", nil, []string{KindLabResult}, 0},
		{"lab then time", "repeat troponin at 14:00", nil, []string{KindLabResult}, 0},
		{"word inside word", "metforminic acid", nil, []string{KindMedication}, 0},
		{"health education only", "Diabetes is treated with metformin and insulin; an A1C test every 3 months is typical.", nil, nil, 0},
	})
}

func TestPersonWithContext(t *testing.T) {
	runDetCases(t, newScanner(t, Options{}), []detCase{
		{"patient label", "Patient: Maria Okafor", []string{KindPatientName}, nil, 1},
		{"last, first caps", "Pt: OKAFOR, MARIA", []string{KindPatientName}, nil, 1},
		{"salutation with results", "Dear Maria,\nYour lab results show potassium 5.9 mmol/L.", []string{KindPatientName, KindLabResult}, nil, 1},
		{"salutation with title", "Dear Mrs. Okafor,\nyour prescription for lisinopril is ready.", []string{KindPatientName}, nil, 1},
		{"spanish", "Estimada Rosa:\nsus resultados de laboratorio están listos.", []string{KindPatientName}, nil, 1},
		{"address and phone with dob", "DOB: 1/2/1950. Your appointment: 12 Maple Street, call (217) 555-0142.", []string{KindAddress, KindPhone, KindDOB}, nil, 1},
		{"surname, given in a clinic list", "08:30  Nguyen, Chen        f/u CHF, check BNP", []string{KindPatientName}, nil, 1},
		{"surname, age and sex", "pt in rm 4 (Garcia, 54F) c/o chest pain, EKG NSR", []string{KindPatientName}, nil, 1},
		{"title and surname", "please call Mr. Adeyemi about his A1C of 9.4%", []string{KindPatientName}, nil, 1},
		{"name and procedure in the subject-like line", "Re: Grace Holloway - MRI results", nil, nil, -1},
		// hard negatives
		{"city, state", "Springfield, Illinois hosts the diabetes walk", nil, []string{KindPatientName}, 0},
		{"organisation, city", "Lakeside Cardiology, Springfield - new heart failure clinic opens", nil, []string{KindPatientName}, 0},
		{"firm name", "Smith, Jones & Partners: insulin pricing webinar", nil, []string{KindPatientName}, 0},
		{"sign-off", "Thanks, Maria. The asthma guideline update is attached.", nil, []string{KindPatientName}, 0},
		{"comma name without health on the line", "Holloway, Grace\nThe asthma guideline is attached.", nil, []string{KindPatientName}, 0},
		{"title without context", "Mr. Adeyemi from finance will present the budget", nil, []string{KindPatientName}, 0},
		{"benefits language", "Dear Maria,\nyour prescription drug coverage changes on January 1.", nil, []string{KindPatientName}, 0},
		{"salutation without context", "Dear Maria,\nThe quarterly report is attached.", nil, []string{KindPatientName}, 0},
		{"generic salutation", "Dear Patient,\nYour lab results are ready in the portal.", nil, []string{KindPatientName}, 0},
		{"doctor", "Dear Dr. Abara,\nI am writing about the grand rounds schedule; your appointment slot is 3pm.", nil, []string{KindPatientName}, 0},
		{"patient portal", "Log in to the Patient Portal to read your results", nil, []string{KindPatientName}, 0},
		{"name label without colon", "name Victor diagnosed", nil, []string{KindPatientName}, 0},
		{"clinic footer", "Flu shots now. Schedule your appointment or call (217) 555-0142. 420 Harbor View Blvd.", nil, nil, 0},
		{"phone without context", "Call (217) 555-0142 about the budget", nil, []string{KindPhone}, 0},
		{"invalid phone", "Your appointment: call (117) 055-0142", nil, []string{KindPhone}, 0},
	})
}

func TestExplainMasksAndDefaultHasNoValues(t *testing.T) {
	s := newScanner(t, Options{})
	msg := "Subject: x\r\n\r\nPatient: Maria Okafor\r\nSSN: 512-44-8821\r\n"
	res, err := s.Scan(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !res.PHI {
		t.Fatal("not PHI")
	}
	ex, err := s.ScanExplain(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	var masked []string
	for _, e := range ex.Evidence {
		masked = append(masked, e.Masked...)
	}
	if !slices.Contains(masked, "***-**-8821") {
		t.Errorf("masked evidence %v lacks ***-**-8821", masked)
	}
	for _, m := range masked {
		if strings.Contains(m, "512") || strings.Contains(m, "Okafor") {
			t.Errorf("masked value %q leaks", m)
		}
	}
}

func TestAllowLists(t *testing.T) {
	text := "DOB: 1/2/1950. Your appointment is at 420 Harbor View Blvd, call (217) 555-0142. Provider NPI 1234567893."
	plain := newScanner(t, Options{}).ScanText(text)
	for _, k := range []string{KindAddress, KindPhone, KindNPI} {
		if !slices.Contains(plain.Kinds, k) {
			t.Fatalf("without allow-list %s not found: %v", k, plain.Kinds)
		}
	}
	s := newScanner(t, Options{
		AllowPhones:    []string{"+1 217-555-0142"},
		AllowAddresses: []string{"420 Harbor View Blvd, Springfield IL"},
		AllowValues:    []string{"1234567893"},
	})
	res := s.ScanText(text)
	for _, k := range []string{KindAddress, KindPhone, KindNPI} {
		if slices.Contains(res.Kinds, k) {
			t.Errorf("allow-listed %s still counted: %v", k, res.Kinds)
		}
	}
	if !slices.Contains(res.Kinds, KindDOB) {
		t.Errorf("allow-list removed the DOB too: %v", res.Kinds)
	}
}

func TestCustomRulesAndWeights(t *testing.T) {
	s := newScanner(t, Options{
		Rules: []Rule{
			{Kind: "employee_health_id", Pattern: `\bEH-[0-9]{6}\b`, Standalone: true},
			{Kind: KindDiagnosis, Keywords: []string{"long covid", "mpox"}},
			{Kind: "study_id", Pattern: `\bSTUDY-[0-9]{4}\b`, Context: []string{"participant"}, Window: 50},
		},
		MRNPatterns: []string{`\bNF[0-9]{7}\b`},
		Standalone:  map[string]bool{KindCreditCard: true},
		Weights:     map[string]float64{KindDOB: 1},
	})
	runDetCases(t, s, []detCase{
		{"custom standalone kind", "ref EH-123456", []string{"employee_health_id"}, nil, 1},
		{"custom keywords", "symptoms of Long  COVID", []string{KindDiagnosis}, nil, 0},
		{"custom with context", "participant STUDY-0042 enrolled", []string{"study_id"}, nil, -1},
		{"custom missing context", "STUDY-0042 budget", nil, []string{"study_id"}, 0},
		{"org mrn format", "see NF1234567 tomorrow", []string{KindMRN}, nil, 1},
		{"card made standalone", "4111 1111 1111 1111", []string{KindCreditCard}, nil, 1},
		{"dob weight raised but still needs context", "DOB: 03/14/1962", []string{KindDOB}, nil, 0},
	})
	for _, bad := range []Options{
		{Rules: []Rule{{Kind: "Bad Kind", Pattern: "x"}}},
		{Rules: []Rule{{Kind: "k", Pattern: "("}}},
		{Rules: []Rule{{Kind: "k"}}},
		{Rules: []Rule{{Kind: "k", Pattern: "x", Keywords: []string{"y"}}}},
		{MRNPatterns: []string{"(?<=x)"}},
		{Weights: map[string]float64{"nope": 1}},
		{Weights: map[string]float64{KindSSN: -1}},
		{Standalone: map[string]bool{"nope": true}},
		{AllowPhones: []string{"12345"}},
		{ScanLimit: -1},
	} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted invalid options", bad)
		}
	}
}

// TestDictionaryFiltersKeepEveryWord: the tokenizer's prefilter, the Bloom
// filter and the slot table must let every dictionary word through, in any
// letter case, or a term would silently never be found.
func TestDictionaryFiltersKeepEveryWord(t *testing.T) {
	s := newScanner(t, Options{ExtraMedications: []string{"zorbatin xr"}})
	n := 0
	for w, e := range s.dict.words {
		for _, v := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:]} {
			d := &detector{s: s, t: []byte(v)}
			ascii := true
			for i := 0; i < len(v); i++ {
				ascii = ascii && v[i] < 0x80
			}
			var h uint32
			var bl int
			if ascii {
				if !s.dict.pre(v[0], v[min(1, len(v)-1)], v[len(v)-1], len(v)) {
					t.Errorf("%q: rejected by the prefilter", v)
					continue
				}
				h, bl = d.lowerASCII(0, len(v))
			} else {
				h, bl = d.lower(0, len(v))
			}
			if v != w && string(d.buf[:bl]) != w {
				continue // a capital the scanner does not fold (only ASCII and Latin-1)
			}
			if !s.dict.mayHave(h) || s.dict.lookup(h, d.buf[:bl]) != e {
				t.Errorf("%q: not found", v)
			}
			n++
		}
	}
	if n < 2*len(s.dict.words) || len(s.dict.words) < 500 {
		t.Errorf("only %d spellings of %d words checked", n, len(s.dict.words))
	}
}

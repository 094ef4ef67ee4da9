package phi

import "testing"

func TestValidators(t *testing.T) {
	tests := []struct {
		name string
		f    func([]byte) bool
		in   string
		want bool
	}{
		{"ssn ok", validSSN, "512448821", true},
		{"ssn area 000", validSSN, "000448821", false},
		{"ssn area 666", validSSN, "666448821", false},
		{"ssn area 9xx", validSSN, "912448821", false},
		{"ssn group 00", validSSN, "512008821", false},
		{"ssn serial 0000", validSSN, "512440000", false},
		{"ssn woolworth", validSSN, "078051120", false},
		{"ssn all same", validSSN, "111111111", false},
		{"ssn ascending", validSSN, "123456789", false},
		{"ssn short", validSSN, "51244882", false},
		{"visa test number", validCard, "4111111111111111", true},
		{"visa off by one", validCard, "4111111111111112", false},
		{"mastercard 2-series", validCard, "2221000000000009", true},
		{"mastercard", validCard, "5555555555554444", true},
		{"amex", validCard, "378282246310005", true},
		{"amex wrong length", validCard, "3782822463100050", false},
		{"unknown issuer", validCard, "9111111111111111", false},
		{"discover", validCard, "6011111111111117", true},
		{"too short", validCard, "411111111111", false},
		{"npi cms example", validNPI, "1234567893", true},
		{"npi bad check", validNPI, "1234567890", false},
		{"npi must start 1 or 2", validNPI, "3234567893", false},
		{"aba", validABA, "021000021", true},
		{"aba bad checksum", validABA, "021000022", false},
		{"aba bad prefix", validABA, "991000021", false},
		{"aba zeros", validABA, "000000000", false},
		{"dea ok", validDEA, "AB1234563", true},
		{"dea 9 second", validDEA, "A91234563", true},
		{"dea bad check", validDEA, "AB1234564", false},
		{"dea bad type", validDEA, "IB1234563", false},
		{"dea lower case", validDEA, "ab1234563", true},
		{"mbi cms example", validMBI, "1EG4TE5MK73", true},
		{"mbi starts 0", validMBI, "0EG4TE5MK73", false},
		{"mbi letter S", validMBI, "1SG4TE5MK73", false},
		{"mbi letter O in pos 5", validMBI, "1EG4OE5MK73", false},
		{"mbi digit in letter slot", validMBI, "1EG4TE5M173", false},
		{"mbi lower case", validMBI, "1eg4te5mk73", false},
		{"icd E11.9", validICD10, "E119", true},
		{"icd I10", validICD10, "I10", true},
		{"icd J45.909", validICD10, "J45909", true},
		{"icd S72.001A", validICD10, "S72001A", true},
		{"icd O9A", validICD10, "O9A", true},
		{"icd A10 not a category", validICD10, "A10", false},
		{"icd U letter block", validICD10, "U071", true},
		{"icd 3rd char letter", validICD10, "E1C", false},
		{"icd too long", validICD10, "E11123456", false},
		{"icd lower", validICD10, "e119", true},
	}
	for _, tc := range tests {
		if got := tc.f([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: %q = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

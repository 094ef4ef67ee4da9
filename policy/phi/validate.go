package phi

// Validators for identifiers whose structure can be checked. Each takes the
// identifier's characters without separators. None of them allocates.

// validSSN applies the Social Security Administration's structural rules
// (SSA POMS RM 10201.035): area 000, 666 and 900-999 are never issued, group
// 00 and serial 0000 are never issued. d holds exactly nine ASCII digits.
func validSSN(d []byte) bool {
	if len(d) != 9 {
		return false
	}
	area := int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
	group := int(d[3]-'0')*10 + int(d[4]-'0')
	serial := int(d[5]-'0')*1000 + int(d[6]-'0')*100 + int(d[7]-'0')*10 + int(d[8]-'0')
	if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
		return false
	}
	// Numbers the SSA published as advertising examples and never issued.
	if area == 78 && group == 5 && serial == 1120 { // 078-05-1120, the Woolworth wallet card
		return false
	}
	if area == 219 && group == 9 && serial == 9999 {
		return false
	}
	// All identical digits (111-11-1111, ...) and the ascending run are
	// placeholders, not SSNs.
	same := true
	for i := 1; i < 9; i++ {
		if d[i] != d[0] {
			same = false
			break
		}
	}
	if same || string(d) == "123456789" {
		return false
	}
	return true
}

// luhnSum returns the Luhn checksum (mod 10) of the digits, processing from
// the right; a valid number has sum 0.
func luhnSum(d []byte, offsetDouble bool) int {
	sum := 0
	double := offsetDouble
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum % 10
}

// validLuhn reports whether d passes the Luhn (mod 10) check (ISO/IEC 7812-1 annex B).
func validLuhn(d []byte) bool {
	return len(d) > 1 && luhnSum(d, false) == 0
}

// validNPI checks a 10-digit National Provider Identifier: the Luhn check over
// the number prefixed with 80840 (CMS, "NPI check digit" per ISO 7812). The
// prefix contributes a constant 24 to the sum.
func validNPI(d []byte) bool {
	if len(d) != 10 || (d[0] != '1' && d[0] != '2') {
		return false
	}
	return (luhnSum(d, false)+24)%10 == 0
}

// validCard checks a payment card number: 13-19 digits, a known issuer
// identification number range (ISO/IEC 7812) and the Luhn check.
func validCard(d []byte) bool {
	n := len(d)
	if n < 13 || n > 19 || !validLuhn(d) {
		return false
	}
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p3 := p2*10 + int(d[2]-'0')
	p4 := p3*10 + int(d[3]-'0')
	p6 := p4*100 + int(d[4]-'0')*10 + int(d[5]-'0')
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p2 == 34 || p2 == 37: // American Express
		return n == 15
	case p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925): // Discover
		return n >= 16 && n <= 19
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16 && n <= 19
	case (p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39: // Diners Club
		return n >= 14 && n <= 19
	case p2 == 62: // UnionPay
		return n >= 16 && n <= 19
	case p2 == 50 || (p2 >= 56 && p2 <= 69): // Maestro
		return n >= 12
	}
	return false
}

// validABA checks a 9-digit ABA routing transit number: the first two digits
// are a Federal Reserve routing symbol (00-12, 21-32, 61-72, 80) and the
// weighted sum 3-7-1 is divisible by 10.
func validABA(d []byte) bool {
	if len(d) != 9 {
		return false
	}
	p := int(d[0]-'0')*10 + int(d[1]-'0')
	if !(p <= 12 || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p == 80) {
		return false
	}
	w := [3]int{3, 7, 1}
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(d[i]-'0') * w[i%3]
	}
	return sum%10 == 0 && string(d) != "000000000"
}

// validDEA checks a DEA registration number: two letters (the registrant
// type, then the first letter of the registrant's surname or 9) and seven
// digits whose last is the check digit: (d1+d3+d5) + 2*(d2+d4+d6) mod 10.
func validDEA(s []byte) bool {
	if len(s) != 9 {
		return false
	}
	switch upper(s[0]) {
	case 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'P', 'R', 'S', 'T', 'U', 'X':
	default:
		return false
	}
	c := upper(s[1])
	if !(c >= 'A' && c <= 'Z') && c != '9' {
		return false
	}
	for i := 2; i < 9; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	v := func(i int) int { return int(s[i] - '0') }
	sum := v(2) + v(4) + v(6) + 2*(v(3)+v(5)+v(7))
	return sum%10 == v(8)
}

// validMBI checks a Medicare Beneficiary Identifier (CMS MBI format
// specification): 11 characters, C A AN N A AN N A A N N, where C is 1-9,
// N is 0-9, A is a letter other than S L O I B Z, and AN is either.
func validMBI(s []byte) bool {
	if len(s) != 11 {
		return false
	}
	const pattern = "CAXNAXNAANN"
	for i := 0; i < 11; i++ {
		c := s[i]
		switch pattern[i] {
		case 'C':
			if c < '1' || c > '9' {
				return false
			}
		case 'N':
			if c < '0' || c > '9' {
				return false
			}
		case 'A':
			if !mbiLetter(c) {
				return false
			}
		case 'X':
			if !mbiLetter(c) && (c < '0' || c > '9') {
				return false
			}
		}
	}
	return true
}

func mbiLetter(c byte) bool {
	if c < 'A' || c > 'Z' {
		return false
	}
	switch c {
	case 'S', 'L', 'O', 'I', 'B', 'Z':
		return false
	}
	return true
}

// validICD10 checks the shape and category of an ICD-10-CM code given
// without its dot: a letter, two characters (digit, digit or letter),
// then up to four more. The three-character category must lie in a block
// that exists in ICD-10-CM.
func validICD10(s []byte) bool {
	if len(s) < 3 || len(s) > 7 {
		return false
	}
	l := upper(s[0])
	if l < 'A' || l > 'Z' || s[1] < '0' || s[1] > '9' {
		return false
	}
	c2 := upper(s[2])
	if !(c2 >= '0' && c2 <= '9') && c2 != 'A' && c2 != 'B' {
		return false
	}
	for i := 3; i < len(s); i++ {
		c := upper(s[i])
		if !(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') {
			return false
		}
	}
	if c2 == 'A' || c2 == 'B' { // only O9A and a few C4A/C7A/C7B/D3A/M1A/Z3A exist
		cat := string([]byte{l, s[1], c2})
		switch cat {
		case "O9A", "C4A", "C7A", "C7B", "D3A", "M1A", "Z3A":
			return true
		}
		return false
	}
	n := int(s[1]-'0')*10 + int(c2-'0')
	for _, r := range icdBlocks[l-'A'] {
		if n >= int(r[0]) && n <= int(r[1]) {
			return true
		}
	}
	return false
}

// icdBlocks lists, per initial letter, the category number ranges that exist
// in ICD-10-CM (the tabular list's blocks; gaps between blocks are absent).
var icdBlocks = [26][][2]uint8{
	'A' - 'A': {{0, 9}, {15, 19}, {20, 28}, {30, 49}, {50, 64}, {65, 69}, {70, 74}, {75, 79}, {80, 89}, {90, 99}},
	'B' - 'A': {{0, 10}, {15, 19}, {20, 20}, {25, 27}, {30, 30}, {33, 34}, {35, 49}, {50, 64}, {65, 83}, {85, 89}, {90, 97}, {99, 99}},
	'C' - 'A': {{0, 26}, {30, 41}, {43, 44}, {45, 49}, {50, 58}, {60, 63}, {64, 68}, {69, 72}, {73, 75}, {76, 80}, {81, 96}},
	'D' - 'A': {{0, 9}, {10, 36}, {37, 48}, {49, 49}, {50, 53}, {55, 59}, {60, 64}, {65, 69}, {70, 77}, {78, 78}, {80, 84}, {86, 89}},
	'E' - 'A': {{0, 7}, {8, 13}, {15, 16}, {20, 35}, {36, 36}, {40, 46}, {50, 64}, {65, 68}, {70, 88}, {89, 89}},
	'F' - 'A': {{1, 9}, {10, 19}, {20, 29}, {30, 39}, {40, 48}, {50, 59}, {60, 69}, {70, 79}, {80, 89}, {90, 98}, {99, 99}},
	'G' - 'A': {{0, 9}, {10, 14}, {20, 26}, {30, 32}, {35, 37}, {40, 47}, {50, 59}, {60, 65}, {70, 73}, {80, 83}, {89, 99}},
	'H' - 'A': {{0, 5}, {10, 11}, {15, 22}, {25, 28}, {30, 36}, {40, 42}, {43, 44}, {46, 47}, {49, 52}, {53, 54}, {55, 57}, {59, 59}, {60, 62}, {65, 75}, {80, 83}, {90, 94}, {95, 95}},
	'I' - 'A': {{0, 2}, {5, 9}, {10, 16}, {20, 25}, {26, 28}, {30, 52}, {60, 69}, {70, 79}, {80, 89}, {95, 99}},
	'J' - 'A': {{0, 6}, {9, 18}, {20, 22}, {30, 39}, {40, 47}, {60, 70}, {80, 84}, {85, 86}, {90, 94}, {95, 95}, {96, 99}},
	'K' - 'A': {{0, 14}, {20, 31}, {35, 38}, {40, 46}, {50, 52}, {55, 64}, {65, 68}, {70, 77}, {80, 87}, {90, 95}},
	'L' - 'A': {{0, 8}, {10, 14}, {20, 30}, {40, 45}, {49, 54}, {55, 59}, {60, 75}, {76, 76}, {80, 99}},
	'M' - 'A': {{0, 2}, {4, 4}, {5, 14}, {15, 19}, {20, 25}, {26, 27}, {30, 36}, {40, 43}, {45, 49}, {50, 54}, {60, 63}, {65, 67}, {70, 79}, {80, 85}, {86, 90}, {91, 94}, {95, 95}, {96, 96}, {97, 97}, {99, 99}},
	'N' - 'A': {{0, 8}, {10, 16}, {17, 19}, {20, 23}, {25, 29}, {30, 39}, {40, 53}, {60, 65}, {70, 77}, {80, 98}, {99, 99}},
	'O' - 'A': {{0, 8}, {9, 9}, {10, 16}, {20, 29}, {30, 48}, {60, 77}, {80, 82}, {85, 92}, {94, 99}},
	'P' - 'A': {{0, 4}, {5, 8}, {9, 9}, {10, 15}, {19, 29}, {35, 39}, {50, 61}, {70, 74}, {76, 78}, {80, 83}, {84, 84}, {90, 96}},
	'Q' - 'A': {{0, 7}, {10, 18}, {20, 28}, {30, 34}, {35, 37}, {38, 45}, {50, 56}, {60, 64}, {65, 79}, {80, 89}, {90, 99}},
	'R' - 'A': {{0, 9}, {10, 19}, {20, 23}, {25, 29}, {30, 39}, {40, 46}, {47, 49}, {50, 69}, {70, 79}, {80, 82}, {83, 89}, {90, 94}, {97, 97}, {99, 99}},
	'S' - 'A': {{0, 99}},
	'T' - 'A': {{0, 88}},
	'U' - 'A': {{0, 49}, {50, 85}},
	'V' - 'A': {{0, 99}},
	'W' - 'A': {{0, 99}},
	'X' - 'A': {{0, 99}},
	'Y' - 'A': {{0, 99}},
	'Z' - 'A': {{0, 99}},
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 32
	}
	return c
}

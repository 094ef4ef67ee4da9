package corpusgen

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// gen holds the random source; all values are invented.
type gen struct{ r *rand.Rand }

func (g *gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g *gen) n(lo, hi int) int         { return lo + g.r.IntN(hi-lo+1) }
func (g *gen) digits(k int) string {
	var b strings.Builder
	for i := 0; i < k; i++ {
		b.WriteByte(byte('0' + g.r.IntN(10)))
	}
	return b.String()
}

var firstNames = []string{"Maria", "James", "Aisha", "Chen", "Olivia", "Mateo", "Priya", "Noah", "Fatima", "Liam", "Sofia", "Ethan", "Hannah", "Diego", "Grace", "Tomasz", "Amara", "Lucas", "Yuki", "Elena", "Kwame", "Isabel", "Oren", "Lena", "Rafael", "Nadia", "Victor", "Rosa", "Samuel", "Ines"}
var lastNames = []string{"Okafor", "Lindqvist", "Haddad", "Moreno", "Kowalczyk", "Tanaka", "Brennan", "Castillo", "Nguyen", "Adeyemi", "Fischer", "Romero", "Patel", "Whitfield", "Delgado", "Sorensen", "Abernathy", "Quintero", "Marchetti", "Oyelaran", "Vasquez", "Holloway", "Petrakis", "Calloway", "Ibarra"}
var streets = []string{"Maple", "Cedar Hollow", "Harbor View", "Willow", "Juniper", "Old Mill", "Pinecrest", "Larkspur", "Beacon", "Sycamore"}
var suffixes = []string{"Street", "St", "Avenue", "Ave", "Road", "Rd", "Lane", "Drive", "Court", "Boulevard"}
var cities = []string{"Springfield, IL 62704", "Riverton, WY 82501", "Fairview, OR 97024", "Lakewood, CO 80226", "Brookhaven, GA 30319", "Greenville, SC 29601"}
var conditions = []string{"type 2 diabetes", "hypertension", "asthma", "major depressive disorder", "atrial fibrillation", "chronic kidney disease", "hypothyroidism", "rheumatoid arthritis", "COPD", "migraine", "breast cancer", "HIV", "bipolar disorder", "osteoarthritis"}
var icd = map[string]string{"type 2 diabetes": "E11.9", "hypertension": "I10", "asthma": "J45.909", "major depressive disorder": "F32.9", "atrial fibrillation": "I48.91", "chronic kidney disease": "N18.3", "hypothyroidism": "E03.9", "rheumatoid arthritis": "M06.9", "COPD": "J44.9", "migraine": "G43.909", "breast cancer": "C50.911", "HIV": "B20", "bipolar disorder": "F31.9", "osteoarthritis": "M19.90"}
var meds = []string{"metformin 500 mg", "lisinopril 10 mg", "albuterol inhaler", "sertraline 50 mg", "apixaban 5 mg", "levothyroxine 75 mcg", "methotrexate 15 mg", "atorvastatin 40 mg", "tiotropium", "sumatriptan 50 mg", "tamoxifen 20 mg", "Biktarvy", "lithium 300 mg", "meloxicam 15 mg"}
var procs = []string{"colonoscopy", "MRI of the left knee", "echocardiogram", "mammogram", "CT scan of the chest", "physical therapy evaluation", "upper endoscopy", "bone density scan", "sleep study", "cataract surgery"}
var labs = [][3]string{{"HbA1c", "%", "7.9"}, {"LDL cholesterol", "mg/dL", "162"}, {"Creatinine", "mg/dL", "1.8"}, {"TSH", "mIU/L", "6.2"}, {"Hemoglobin", "g/dL", "10.4"}, {"Potassium", "mmol/L", "5.6"}, {"eGFR", "mL/min", "48"}, {"Glucose", "mg/dL", "212"}, {"Platelets", "K/uL", "98"}, {"Vitamin D", "ng/mL", "14"}}
var doctors = []string{"Dr. Helen Abara", "Dr. Marcus Feld", "Dr. Sunita Rao", "Dr. Paul Everly", "Dr. Camila Ortiz"}
var clinics = []string{"Northfield Family Medicine", "Lakeside Cardiology Associates", "Riverbend Health Partners", "Clearwater Pediatrics", "Summit Orthopedics"}

type person struct {
	First, Last string
	DOB         string // MM/DD/YYYY
	DOBLong     string // "March 4, 1961"
	SSN         string
	MRN         string
	Member      string
	MBI         string
	Phone       string
	Street      string
	City        string
	Cond        string
	Med         string
	Proc        string
}

var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

func (g *gen) person() person {
	m, d, y := g.n(1, 12), g.n(1, 28), g.n(1935, 2015)
	c := g.pick(conditions...)
	return person{
		First: g.pick(firstNames...), Last: g.pick(lastNames...),
		DOB:     fmt.Sprintf("%02d/%02d/%d", m, d, y),
		DOBLong: fmt.Sprintf("%s %d, %d", monthNames[m-1], d, y),
		SSN:     g.ssn(),
		MRN:     g.digits(8),
		Member:  g.pick("XJH", "QRM", "BCA", "WPN", "ZKE") + g.digits(9),
		MBI:     g.mbi(),
		Phone:   fmt.Sprintf("(%d) 555-01%02d", g.n(201, 989), g.n(0, 99)),
		Street:  fmt.Sprintf("%d %s %s", g.n(10, 9899), g.pick(streets...), g.pick(suffixes...)),
		City:    g.pick(cities...),
		Cond:    c,
		Med:     g.pick(meds...),
		Proc:    g.pick(procs...),
	}
}

func (g *gen) ssn() string {
	for {
		a := g.n(1, 899)
		if a == 666 {
			continue
		}
		s := fmt.Sprintf("%03d-%02d-%04d", a, g.n(1, 99), g.n(1, 9999))
		if s != "123-45-6789" {
			return s
		}
	}
}

// invalidSSN returns a 3-2-4 number that is never issued (area 000, 666, 9xx).
func (g *gen) invalidSSN() string {
	return fmt.Sprintf("%s-%02d-%04d", g.pick("000", "666", fmt.Sprint(g.n(900, 999))), g.n(1, 99), g.n(1, 9999))
}

const mbiLetters = "ACDEFGHJKMNPQRTUVWXY"

func (g *gen) mbi() string {
	L := func() byte { return mbiLetters[g.r.IntN(len(mbiLetters))] }
	D := func() byte { return byte('0' + g.r.IntN(10)) }
	b := []byte{byte('1' + g.r.IntN(9)), L(), D(), D(), L(), D(), D(), L(), L(), D(), D()}
	if g.r.IntN(2) == 0 {
		return string(b)
	}
	return string(b[:4]) + "-" + string(b[4:7]) + "-" + string(b[7:])
}

func luhnDigit(payload string, prefixSum int) byte {
	sum := prefixSum
	double := true
	for i := len(payload) - 1; i >= 0; i-- {
		v := int(payload[i] - '0')
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

func (g *gen) npi() string {
	p := "1" + g.digits(8)
	return p + string(luhnDigit(p, 24))
}

func (g *gen) card() string {
	p := "4" + g.digits(14)
	c := p + string(luhnDigit(p, 0))
	return c[:4] + " " + c[4:8] + " " + c[8:12] + " " + c[12:]
}

// badCard is 16 digits in groups that fail the Luhn check.
func (g *gen) badCard() string {
	p := "4" + g.digits(14)
	ok := luhnDigit(p, 0)
	bad := byte('0' + (int(ok-'0')+1+g.r.IntN(8))%10)
	c := p + string(bad)
	return c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:]
}

func (g *gen) dea(last string) string {
	d := g.digits(6)
	v := func(i int) int { return int(d[i] - '0') }
	chk := (v(0) + v(2) + v(4) + 2*(v(1)+v(3)+v(5))) % 10
	return "B" + last[:1] + d + fmt.Sprint(chk)
}

func (g *gen) aba() string {
	for {
		p := fmt.Sprintf("%02d", g.pick2(1, 12, 21, 32)) + g.digits(6)
		w := []int{3, 7, 1, 3, 7, 1, 3, 7}
		s := 0
		for i := 0; i < 8; i++ {
			s += int(p[i]-'0') * w[i]
		}
		return p + fmt.Sprint((10-s%10)%10)
	}
}

func (g *gen) pick2(a1, a2, b1, b2 int) int {
	if g.r.IntN(2) == 0 {
		return g.n(a1, a2)
	}
	return g.n(b1, b2)
}

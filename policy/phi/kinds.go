package phi

// Kind names, exactly as in DESIGN.md. Custom rules may add their own.
const (
	KindSSN             = "ssn"
	KindMRN             = "mrn"
	KindDOB             = "dob"
	KindDiagnosis       = "diagnosis"
	KindICD10           = "icd10"
	KindCPT             = "cpt"
	KindNDC             = "ndc"
	KindMedication      = "medication"
	KindNPI             = "npi"
	KindDEA             = "dea"
	KindMBI             = "medicare_mbi"
	KindHealthPlanID    = "health_plan_id"
	KindLabResult       = "lab_result"
	KindProcedure       = "procedure"
	KindPatientName     = "patient_name_with_health_context"
	KindAddress         = "address_with_health_context"
	KindPhone           = "phone_with_health_context"
	KindCreditCard      = "credit_card"
	KindBankAccount     = "bank_account"
	KindDriversLicense  = "drivers_license"
	KindUnscannable     = "unscannable"
	contextPseudoWeight = 0.3
)

// Class says how a kind takes part in the verdict.
type Class int

const (
	// ClassStrong kinds decide alone: one of them makes the message PHI.
	ClassStrong Class = iota
	// ClassIdentifier kinds identify a person (or a payer account) and are PHI
	// only together with health information or patient context.
	ClassIdentifier
	// ClassHealth kinds are health information; without an identifier they
	// are not PHI (health education, newsletters).
	ClassHealth
	// ClassQuasi kinds (an address, a phone number, a provider's NPI) add to
	// the score but never make a message PHI without a name, a date of birth
	// or another identifier: a clinic's footer is not a patient.
	ClassQuasi
)

type kindID uint8

const (
	kSSN kindID = iota
	kMRN
	kDOB
	kDiagnosis
	kICD10
	kCPT
	kNDC
	kMedication
	kNPI
	kDEA
	kMBI
	kPlan
	kLab
	kProcedure
	kName
	kAddress
	kPhone
	kCard
	kBank
	kDL
	kUnscannable
	numBuiltinKinds
)

type kindInfo struct {
	name   string
	weight float64
	class  Class
}

// builtinKinds returns the built-in kinds with their default weights. It
// returns a fresh slice each time; New copies and adjusts it per Scanner.
func builtinKinds() []kindInfo {
	return []kindInfo{
		kSSN:         {KindSSN, 1, ClassStrong},
		kMRN:         {KindMRN, 1, ClassStrong},
		kDOB:         {KindDOB, 0.7, ClassIdentifier},
		kDiagnosis:   {KindDiagnosis, 0.3, ClassHealth},
		kICD10:       {KindICD10, 0.4, ClassHealth},
		kCPT:         {KindCPT, 0.3, ClassHealth},
		kNDC:         {KindNDC, 0.3, ClassHealth},
		kMedication:  {KindMedication, 0.3, ClassHealth},
		kNPI:         {KindNPI, 0.2, ClassQuasi},
		kDEA:         {KindDEA, 0.5, ClassIdentifier},
		kMBI:         {KindMBI, 1, ClassStrong},
		kPlan:        {KindHealthPlanID, 1, ClassStrong},
		kLab:         {KindLabResult, 0.4, ClassHealth},
		kProcedure:   {KindProcedure, 0.3, ClassHealth},
		kName:        {KindPatientName, 1, ClassStrong},
		kAddress:     {KindAddress, 0.35, ClassQuasi},
		kPhone:       {KindPhone, 0.3, ClassQuasi},
		kCard:        {KindCreditCard, 0.7, ClassIdentifier},
		kBank:        {KindBankAccount, 0.7, ClassIdentifier},
		kDL:          {KindDriversLicense, 0.8, ClassIdentifier},
		kUnscannable: {KindUnscannable, 1, ClassStrong},
	}
}

// KindNames lists the built-in kind names in a stable order.
func KindNames() []string {
	ks := builtinKinds()
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.name
	}
	return out
}

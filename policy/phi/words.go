package phi

// Embedded word lists. They are constants: New parses them into a per-Scanner
// dictionary, so nothing here is mutable. Entries are lower case, one per
// line; multi-word entries match their words separated by spaces, hyphens or
// light punctuation. Spanish entries are included because patient mail in
// the US is often Spanish.

// labelWords maps labels to the identifier they introduce. Format:
// "label text<TAB>kind". Kinds here are label classes, not finding kinds.
const labelWords = `
ssn	ssn
ssn#	ssn
ss#	ssn
ss no	ssn
soc sec	ssn
soc sec no	ssn
social security	ssn
social security number	ssn
social security no	ssn
social	ssn
seguro social	ssn
número de seguro social	ssn
mrn	mrn
mrn#	mrn
mr#	mrn
med rec	mrn
med rec no	mrn
med rec #	mrn
medical record	mrn
medical record number	mrn
medical record no	mrn
medical record #	mrn
patient id	mrn
patient no	mrn
patient number	mrn
pt id	mrn
chart	mrn
chart number	mrn
chart no	mrn
chart #	mrn
chart id	mrn
account number	account
acct	account
acct no	account
acct#	account
account no	account
account #	account
bank account	bank
checking account	bank
savings account	bank
iban	bank
número de cuenta	account
cuenta	account
expediente	mrn
número de expediente	mrn
historia clínica	mrn
dob	dob
d.o.b	dob
date of birth	dob
birth date	dob
birthdate	dob
born	dob
born on	dob
fecha de nacimiento	dob
fecha nac	dob
f. nac	dob
npi	npi
npi#	npi
national provider identifier	npi
dea	dea
dea#	dea
dea number	dea
dea no	dea
mbi	mbi
medicare	mbi
medicare number	mbi
medicare id	mbi
medicare beneficiary identifier	mbi
member id	plan
member #	plan
member no	plan
member number	plan
subscriber id	plan
subscriber #	plan
subscriber number	plan
policy number	plan
policy #	plan
policy no	plan
group number	plan
group #	plan
group no	plan
group id	plan
plan id	plan
insurance id	plan
health plan id	plan
medicaid id	plan
medicaid #	plan
medicaid number	plan
beneficiary id	plan
id de miembro	plan
número de póliza	plan
número de miembro	plan
driver's license	dl
drivers license	dl
driver license	dl
driver's licence	dl
driving licence	dl
dl#	dl
dl no	dl
license number	dl
licencia de conducir	dl
routing	aba
routing number	aba
routing no	aba
aba	aba
aba#	aba
rtn	aba
icd	icd
icd-10	icd
icd10	icd
icd-10-cm	icd
dx	icd
dx code	icd
diagnosis code	icd
diagnosis	icd
diag	icd
diagnóstico	icd
cpt	cpt
cpt code	cpt
hcpcs	cpt
procedure code	cpt
billing code	cpt
ndc	ndc
ndc#	ndc
national drug code	ndc
card number	card
credit card	card
card no	card
visa	card
mastercard	card
amex	card
tarjeta	card
phone	phone
tel	phone
telephone	phone
cell	phone
mobile	phone
call	phone
teléfono	phone
celular	phone
patient	name
patient name	name
pt name	name
pt	name
patient's name	name
name of patient	name
paciente	name
nombre del paciente	name
nombre	gname
name	gname
member name	name
insured	name
re	gname
`

// contextWords are patient-specific context: words that say a message is
// about a particular person's care. Generic health vocabulary is not here.
const contextWords = `
your appointment
your upcoming appointment
your visit
your recent visit
your test results
your results
your lab results
your lab work
your test
your diagnosis
your prescription
your procedure
your surgery
your treatment
your medication
your medications
your referral
your claim
your condition
your biopsy
your scan
your blood work
diagnosed
diagnosed with
prescribed
was admitted
discharged
discharge summary
follow-up appointment
follow up appointment
progress note
clinical note
explanation of benefits
prior authorization
date of service
visit summary
after visit summary
su cita
sus resultados
resultados de laboratorio
diagnosticado
diagnosticada
su receta
su tratamiento
su diagnóstico
`

// neutralPhrases start like patient context but are generic plan or
// benefits language; as the longest match they cancel the context.
const neutralPhrases = `
your prescription drug
your prescription drugs
your prescription coverage
your prescription benefit
your prescription benefits
your medication coverage
your claim status
`

// negativeWords introduce numbers that are not personal identifiers.
const negativeWords = `
order
order #
order no
order number
invoice
invoice #
invoice no
invoice number
tracking
tracking #
tracking number
shipment
confirmation
confirmation #
confirmation number
reference
ref
ref #
ref no
po
po #
purchase order
ticket
ticket #
case #
incident
serial
serial number
serial no
part
part #
part number
sku
item
item #
model
model #
license key
product key
key
activation code
promo code
coupon
voucher
transaction
transaction id
booking
reservation
pedido
factura
rastreo
version
build
isbn
ext
room
suite
flight
`

// titleWords introduce a surname ("Mrs. Abernathy") the way a salutation
// introduces a name.
const titleWords = `
mr
mrs
ms
miss
sr
sra
srta
`

const salutationWords = `
dear
hi
hello
hey
greetings
good morning
good afternoon
estimado
estimada
estimados
hola
querido
querida
`

const streetSuffixWords = `
street
st
avenue
ave
road
rd
boulevard
blvd
drive
dr
lane
ln
way
court
ct
place
pl
parkway
pkwy
highway
hwy
circle
cir
terrace
ter
trail
trl
square
sq
calle
avenida
`

// notNameWords cannot be part of a person's name after a label or
// salutation ("Dear Patient", "Hi Team"), nor the given name in
// "Surname, Given" ("Springfield, Illinois").
const notNameWords = `
alabama
alaska
arizona
arkansas
california
colorado
connecticut
delaware
florida
georgia
hawaii
idaho
illinois
indiana
iowa
kansas
kentucky
louisiana
maine
maryland
massachusetts
michigan
minnesota
mississippi
missouri
montana
nebraska
nevada
new
north
south
west
rhode
ohio
oklahoma
oregon
pennsylvania
tennessee
texas
utah
vermont
virginia
washington
wisconsin
wyoming
usa
canada
mexico
england
france
spain
germany
thanks
thank
regards
cheers
best
sincerely
cordially
gracias
saludos
atentamente
welcome
please
note
hello
hi
dear
patient
patients
member
members
friend
friends
customer
customers
colleague
colleagues
team
all
everyone
sir
madam
valued
doctor
dr
provider
providers
parent
parents
guardian
staff
hiring
manager
support
user
users
client
clients
partner
partners
subscriber
vendor
there
folks
neighbor
community
name
information
id
number
portal
education
satisfaction
safety
care
survey
records
record
access
privacy
paciente
miembro
amigo
amiga
cliente
equipo
todos
señor
señora
`

// resultWords after a lab test name make a result without a number.
const resultWords = `
positive
negative
reactive
detected
elevated
abnormal
positivo
negativo
positiva
negativa
`

const monthWords = `
january	1
jan	1
february	2
feb	2
march	3
mar	3
april	4
apr	4
may	5
june	6
jun	6
july	7
jul	7
august	8
aug	8
september	9
sep	9
sept	9
october	10
oct	10
november	11
nov	11
december	12
dec	12
enero	1
febrero	2
marzo	3
abril	4
mayo	5
junio	6
julio	7
agosto	8
septiembre	9
octubre	10
noviembre	11
diciembre	12
`

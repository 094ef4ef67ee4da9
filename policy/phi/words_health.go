package phi

// Health dictionaries: medications (generic and brand), conditions,
// procedures and laboratory tests, English and Spanish. Lower case, one per
// line; New parses them into each Scanner's dictionary.

// medicationWords: common generic and brand drug names (US top prescribed,
// oncology, HIV, psychiatric, controlled substances).
const medicationWords = `
abilify
acetaminophen
actos
acyclovir
adalimumab
adderall
advair
albuterol
alendronate
allopurinol
alprazolam
amiodarone
amitriptyline
amlodipine
amoxicillin
amphetamine
anastrozole
apixaban
aricept
aripiprazole
atenolol
ativan
atorvastatin
augmentin
azithromycin
baclofen
benazepril
benzonatate
biktarvy
bisoprolol
budesonide
bumetanide
buprenorphine
bupropion
buspirone
carbamazepine
carbidopa
carvedilol
cefdinir
celecoxib
cephalexin
cetirizine
chlorthalidone
cialis
ciprofloxacin
citalopram
clindamycin
clonazepam
clonidine
clopidogrel
clozapine
codeine
colchicine
concerta
coumadin
crestor
cyclobenzaprine
cymbalta
dapagliflozin
depakote
descovy
dexamethasone
dexmethylphenidate
diazepam
diclofenac
dicyclomine
digoxin
diltiazem
diphenhydramine
divalproex
donepezil
doxazosin
doxycycline
dulaglutide
duloxetine
eliquis
empagliflozin
enalapril
entresto
epinephrine
escitalopram
esomeprazole
estradiol
eszopiclone
etanercept
ezetimibe
famotidine
farxiga
fenofibrate
fentanyl
finasteride
flecainide
flomax
fluconazole
fluoxetine
fluticasone
folic acid
furosemide
gabapentin
gemfibrozil
genvoya
glimepiride
glipizide
glyburide
guanfacine
humalog
humira
hydralazine
hydrochlorothiazide
hydrocodone
hydrocortisone
hydromorphone
hydroxychloroquine
hydroxyzine
ibuprofen
imatinib
insulin
insulin glargine
insulin lispro
invokana
ipratropium
irbesartan
isosorbide
jardiance
januvia
keppra
ketorolac
klonopin
labetalol
lamictal
lamotrigine
lansoprazole
lantus
lasix
latanoprost
letrozole
levemir
levetiracetam
levofloxacin
levothyroxine
lexapro
linagliptin
lipitor
liraglutide
lisinopril
lithium
loratadine
lorazepam
losartan
lovastatin
lyrica
meclizine
medroxyprogesterone
meloxicam
memantine
metformin
methadone
methocarbamol
methotrexate
methylphenidate
methylprednisolone
metoclopramide
metoprolol
metronidazole
mirtazapine
montelukast
morphine
mounjaro
naloxone
naltrexone
naproxen
nexium
nifedipine
nitrofurantoin
nitroglycerin
norco
nortriptyline
novolog
olanzapine
olmesartan
omeprazole
ondansetron
oxcarbazepine
oxybutynin
oxycodone
oxycontin
ozempic
pantoprazole
paroxetine
paxlovid
penicillin
percocet
phentermine
pioglitazone
plavix
potassium chloride
pravastatin
prednisolone
prednisone
pregabalin
premarin
prilosec
primidone
prochlorperazine
promethazine
propranolol
prozac
quetiapine
ramipril
ranitidine
risperdal
risperidone
rivaroxaban
rizatriptan
ropinirole
rosuvastatin
semaglutide
seroquel
sertraline
sildenafil
simvastatin
singulair
sitagliptin
spironolactone
spiriva
sumatriptan
suboxone
symbicort
synthroid
tacrolimus
tadalafil
tamoxifen
tamsulosin
temazepam
terazosin
tizanidine
topiramate
toradol
tramadol
trazodone
triamcinolone
triamterene
trulicity
truvada
tylenol
valacyclovir
valium
valsartan
venlafaxine
ventolin
verapamil
victoza
vyvanse
warfarin
wegovy
wellbutrin
xanax
xarelto
zepbound
zetia
zoloft
zolpidem
zyprexa
vancomycin
ceftriaxone
heparin
enoxaparin
lovenox
remdesivir
pembrolizumab
keytruda
nivolumab
opdivo
trastuzumab
herceptin
rituximab
bevacizumab
cisplatin
carboplatin
paclitaxel
doxorubicin
cyclophosphamide
tenofovir
emtricitabine
dolutegravir
efavirenz
ribavirin
sofosbuvir
harvoni
epclusa
buprenorphine naloxone
vivitrol
antabuse
disulfiram
acamprosate
haloperidol
lurasidone
latuda
ziprasidone
paliperidone
invega
vraylar
rexulti
trintellix
vortioxetine
desvenlafaxine
pristiq
lisdexamfetamine
strattera
atomoxetine
modafinil
provigil
metformina
insulina
amoxicilina
ibuprofeno
paracetamol
omeprazol
losartán
atorvastatina
levotiroxina
`

// conditionWords: diagnoses and conditions, lay and clinical, English and Spanish.
const conditionWords = `
acid reflux
acne
addiction
addison's disease
adhd
aids
alcohol use disorder
alcoholism
allergic rhinitis
alopecia
alzheimer's
alzheimer's disease
alzheimers
amyotrophic lateral sclerosis
anaphylaxis
anemia
aneurysm
angina
ankylosing spondylitis
anorexia
anorexia nervosa
anxiety disorder
aortic stenosis
aplastic anemia
appendicitis
arrhythmia
arthritis
asthma
atrial fibrillation
autism
autism spectrum disorder
bacterial vaginosis
bell's palsy
benign prostatic hyperplasia
bipolar
bipolar disorder
bladder cancer
blood clot
bph
brain tumor
breast cancer
bronchiectasis
bronchitis
bulimia
bursitis
cancer
carcinoma
cardiomyopathy
carpal tunnel syndrome
cataract
celiac disease
cellulitis
cerebral palsy
cervical cancer
chlamydia
cholecystitis
chronic fatigue syndrome
chronic kidney disease
ckd
cirrhosis
colitis
colon cancer
colorectal cancer
concussion
congestive heart failure
chf
copd
coronary artery disease
covid-19
crohn's disease
crohn's
cystic fibrosis
deep vein thrombosis
dementia
depression
major depressive disorder
dermatitis
diabetes
diabetes mellitus
diabetic
diverticulitis
down syndrome
dvt
dysphagia
eating disorder
eczema
emphysema
endometriosis
epilepsy
erectile dysfunction
esophagitis
fatty liver
fibromyalgia
fracture
gallstones
gastritis
gastroenteritis
gerd
glaucoma
gonorrhea
gout
graves' disease
hashimoto's
heart attack
heart disease
heart failure
hemophilia
hemorrhoids
hepatitis
hepatitis a
hepatitis b
hepatitis c
hernia
herniated disc
herpes
hiv
hiv positive
hodgkin lymphoma
huntington's disease
hyperlipidemia
hypertension
hyperthyroidism
hypoglycemia
hypothyroidism
ibs
infertility
influenza
insomnia
irritable bowel syndrome
ischemic stroke
kidney disease
kidney failure
kidney stones
leukemia
lupus
lyme disease
lymphoma
macular degeneration
melanoma
meningitis
menopause
migraine
miscarriage
mononucleosis
multiple myeloma
multiple sclerosis
muscular dystrophy
myocardial infarction
narcolepsy
neuropathy
non-hodgkin lymphoma
obesity
obsessive-compulsive disorder
ocd
opioid use disorder
osteoarthritis
osteoporosis
ovarian cancer
pancreatic cancer
pancreatitis
panic disorder
parkinson's
parkinson's disease
pelvic inflammatory disease
peptic ulcer
peripheral artery disease
pneumonia
polycystic ovary syndrome
pcos
postpartum depression
post-traumatic stress disorder
ptsd
preeclampsia
pregnancy
pregnant
prenatal
prostate cancer
psoriasis
psoriatic arthritis
pulmonary embolism
pulmonary fibrosis
renal failure
rheumatoid arthritis
rosacea
sarcoidosis
schizophrenia
schizoaffective disorder
sciatica
scoliosis
seizure disorder
seizures
sepsis
sexually transmitted infection
shingles
sickle cell anemia
sickle cell disease
sinusitis
sleep apnea
stroke
substance use disorder
suicidal ideation
syphilis
tendonitis
thyroid cancer
tinnitus
tuberculosis
ulcerative colitis
urinary tract infection
uti
vertigo
stage 4
metastatic
malignant
tumor
benign tumor
cáncer
diabetes tipo 2
hipertensión
hipertension
asma
depresión
ansiedad
embarazo
embarazada
insuficiencia cardíaca
enfermedad renal
artritis
neumonía
epilepsia
vih
`

// procedureWords: procedures, imaging and surgery.
const procedureWords = `
amputation
annual physical
physical exam
wellness visit
well visit
well-child visit
angiogram
angioplasty
appendectomy
arthroscopy
biopsy
bone marrow transplant
bone density scan
bronchoscopy
bypass surgery
cabg
cardiac catheterization
cataract surgery
cesarean section
c-section
chemotherapy
chemo
cholecystectomy
colonoscopy
colectomy
ct scan
cat scan
cystoscopy
dialysis
echocardiogram
ekg
ecg
electrocardiogram
eeg
endoscopy
hemodialysis
hip replacement
hysterectomy
immunotherapy
joint replacement
knee replacement
laparoscopy
lumpectomy
mammogram
mastectomy
mri
mri scan
pap smear
pacemaker
pet scan
physical therapy
prostatectomy
radiation therapy
radiotherapy
rotator cuff repair
skin graft
spinal fusion
spinal tap
lumbar puncture
stent placement
sterilization
tonsillectomy
transfusion
blood transfusion
ultrasound
upper endoscopy
vasectomy
x-ray
abortion
ivf
kidney transplant
liver transplant
heart transplant
organ transplant
genetic testing
sleep study
stress test
colposcopy
tubal ligation
bariatric surgery
gastric bypass
cirugía
colonoscopía
mamografía
quimioterapia
diálisis
`

// labTestWords: names of laboratory tests and vital signs whose values,
// when given next to them, are lab results.
const labTestWords = `
a1c
hba1c
hemoglobin a1c
glucose
blood glucose
fasting glucose
blood sugar
cholesterol
total cholesterol
ldl
hdl
triglycerides
creatinine
egfr
gfr
bun
sodium
potassium
chloride
calcium
magnesium
phosphorus
albumin
bilirubin
alt
ast
alkaline phosphatase
tsh
free t4
t3
psa
wbc
rbc
white blood cell count
red blood cell count
hemoglobin
hematocrit
platelets
platelet count
mcv
inr
pt/inr
ferritin
iron
vitamin d
vitamin b12
b12
folate
uric acid
crp
c-reactive protein
esr
troponin
bnp
cd4
cd4 count
viral load
hcg
beta hcg
pregnancy test
prueba de embarazo
covid test
prueba de covid
strep test
hiv test
drug test
urine culture
blood culture
lipase
amylase
ammonia
lactate
ck
testosterone
estradiol level
cortisol
urine protein
microalbumin
blood pressure
bp
heart rate
pulse
oxygen saturation
spo2
bmi
temperature
glucosa
hemoglobina
colesterol
creatinina
presión arterial
`

#!/usr/bin/env python3
"""Builds the three domain datasets lorafleet's examples fine-tune on (standard library only).

Each domain has its own vocabulary and structure that the general base model has never seen,
with facts that depend on one another (a symptom determines the likely diagnosis and plan; an
issue determines the agent's answer), so an adapter measurably lowers eval loss, and its rank
and learning rate visibly change how much.

  medical  clinical notes                 {"text"}
  legal    contract clauses               {"text"}
  support  customer-support replies       {"prompt", "completion"} (loss on the reply only)

    python3 examples/tools/make_domains.py examples/data
"""
import json
import os
import random
import sys

CONDITIONS = [
    ("chest pain radiating to the left arm", "suspected acute coronary syndrome",
     "ECG, troponin series, aspirin 300 mg, cardiology consult"),
    ("productive cough and fever", "community-acquired pneumonia",
     "chest X-ray, amoxicillin 500 mg three times daily for 5 days"),
    ("burning on urination", "uncomplicated urinary tract infection",
     "urine culture, nitrofurantoin 100 mg twice daily for 5 days"),
    ("wheezing and shortness of breath", "acute asthma exacerbation",
     "salbutamol nebuliser, prednisolone 40 mg for 5 days, review inhaler technique"),
    ("severe headache with photophobia", "migraine without aura",
     "ibuprofen 400 mg, antiemetic, headache diary, review in 4 weeks"),
    ("polyuria and polydipsia", "new-onset type 2 diabetes mellitus",
     "HbA1c, metformin 500 mg daily, dietitian referral"),
    ("right lower quadrant abdominal pain", "suspected appendicitis",
     "nil by mouth, IV fluids, surgical review, ultrasound abdomen"),
    ("itchy red rash on both forearms", "contact dermatitis",
     "emollients, hydrocortisone 1% cream twice daily, avoid irritant"),
    ("swollen painful left calf", "suspected deep vein thrombosis",
     "D-dimer, compression ultrasound, apixaban if confirmed"),
    ("fatigue and pallor", "iron-deficiency anaemia",
     "full blood count, ferritin, ferrous sulfate 200 mg daily"),
]
HISTORY = ["hypertension", "asthma", "no significant past history", "type 2 diabetes",
           "hypothyroidism", "previous myocardial infarction", "chronic kidney disease stage 2",
           "smoker, 20 pack-years", "penicillin allergy", "hyperlipidaemia"]


def medical(rng):
    symptom, diagnosis, plan = rng.choice(CONDITIONS)
    age, sex = rng.randint(18, 90), rng.choice(["male", "female"])
    return {"text": (
        f"Patient: {age}-year-old {sex} presenting with {symptom} for "
        f"{rng.randint(1, 14)} {rng.choice(['hours', 'days'])}. History: {rng.choice(HISTORY)}. "
        f"Vitals: BP {rng.randint(100, 170)}/{rng.randint(60, 100)}, HR {rng.randint(55, 120)}, "
        f"temp {rng.randint(361, 395) / 10:.1f} C, SpO2 {rng.randint(90, 100)}%. "
        f"Assessment: {diagnosis}. Plan: {plan}.")}


PARTIES = [("Supplier", "Customer"), ("Landlord", "Tenant"), ("Licensor", "Licensee"),
           ("Employer", "Employee"), ("Seller", "Buyer"), ("Contractor", "Client")]
CLAUSES = [
    ("Payment", "pay all undisputed invoices", "receipt of a valid invoice",
     "Late payments shall accrue interest at {rate}% per annum."),
    ("Confidentiality", "return or destroy all Confidential Information", "termination of this Agreement",
     "This obligation shall survive termination for a period of {years} years."),
    ("Termination", "give written notice of any material breach", "becoming aware of such breach",
     "The breaching party shall have {days2} days to remedy the breach."),
    ("Indemnity", "notify the other party of any third-party claim", "receipt of such claim",
     "Liability under this clause shall not exceed {cap} times the annual fees."),
    ("Delivery", "deliver the Goods to the agreed premises", "the date of the purchase order",
     "Risk in the Goods shall pass upon delivery."),
    ("Maintenance", "carry out all necessary repairs", "receiving a repair request",
     "Costs of repairs caused by misuse shall be borne by the {b}."),
]


def legal(rng):
    a, b = rng.choice(PARTIES)
    title, duty, event, tail = rng.choice(CLAUSES)
    if rng.random() < 0.5:
        a, b = b, a
    tail = tail.format(rate=rng.choice([2, 4, 5, 8]), years=rng.choice([2, 3, 5]),
                       days2=rng.choice([14, 30]), cap=rng.choice([1, 2, 3]), b=b)
    return {"text": (
        f"Clause {rng.randint(1, 20)}.{rng.randint(1, 9)} {title}. The {a} shall {duty} within "
        f"{rng.choice([7, 10, 14, 30, 60, 90])} days of {event}. {tail} "
        f"Nothing in this clause limits the rights of the {b} under applicable law.")}


ISSUES = [
    ("my order #{order} still hasn't arrived and it's been {days} days",
     "I'm sorry order #{order} is late. I've checked with the courier: it is in transit and "
     "should arrive within 2 working days. I've added free express shipping to your next order."),
    ("I was charged twice for order #{order}",
     "I'm sorry about the double charge on order #{order}. I've refunded the duplicate payment; "
     "it will appear on your statement within 3-5 working days."),
    ("I can't log in, the password reset email never comes",
     "Sorry for the trouble. I've sent a new reset link to your email; please check the spam "
     "folder too. The link is valid for 24 hours."),
    ("the {item} I received is damaged",
     "I'm sorry the {item} arrived damaged. Please reply with a photo and I'll send a free "
     "replacement today; you don't need to return the damaged one."),
    ("how do I cancel my subscription?",
     "You can cancel any time under Account > Subscription > Cancel. Your plan stays active "
     "until the end of the current billing period, and you won't be charged again."),
    ("can I change the delivery address for order #{order}?",
     "Yes - order #{order} hasn't shipped yet, so I've updated the address. You'll get a "
     "confirmation email in a few minutes."),
]
ITEMS = ["blender", "desk lamp", "backpack", "coffee grinder", "keyboard", "water bottle"]
OPENERS = ["Hi,", "Hello,", "Hey there,", "Good morning,", ""]


def support(rng):
    issue, answer = rng.choice(ISSUES)
    v = dict(order=rng.randint(10000, 99999), days=rng.randint(5, 21), item=rng.choice(ITEMS))
    opener = rng.choice(OPENERS)
    return {"prompt": f"Customer: {opener} {issue.format(**v)}\nAgent:".replace(":  ", ": "),
            "completion": " " + answer.format(**v)}


def main(root):
    for seed, (name, make) in enumerate((("medical", medical), ("legal", legal), ("support", support))):
        rng = random.Random(1000 + seed)
        out = os.path.join(root, name)
        os.makedirs(out, exist_ok=True)
        for split, n in (("train", 3000), ("eval", 200)):
            with open(os.path.join(out, f"{split}.jsonl"), "w", encoding="utf-8") as f:
                for _ in range(n):
                    f.write(json.dumps(make(rng), ensure_ascii=False) + "\n")
        print(f"{out}: 3000 train, 200 eval")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/data")

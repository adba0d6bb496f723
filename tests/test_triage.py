"""Red-flag triage: every rule in both languages, negation, typos, slang and near misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers.conversation.answer import Answerer
from handlers.triage import Category, RedFlag, RedFlagRules, load_red_flag_rules, triage

RULES_FILE = Path(__file__).resolve().parents[1] / "content" / "red_flags.yaml"
E, C, U = Category.EMERGENCY, Category.CRISIS, Category.URGENT

# (message, category, rule id): at least one English and one Spanish message per rule.
EN_FLAGS = [
    ("numbness in my groin and my back is killing me", E, "cauda_equina.saddle_numbness"),
    ("pins and needles in my crotch", E, "cauda_equina.saddle_numbness"),
    ("i cant feel anything down there when i wipe", E, "cauda_equina.saddle_numbness"),
    ("my inner thighs have gone completely numb", E, "cauda_equina.saddle_numbness"),
    ("kinda numb around my butt like where u sit on a bike", E, "cauda_equina.saddle_numbness"),
    ("cant pee since this morning", E, "cauda_equina.bladder_bowel"),
    ("I peed myself and didn't even notice", E, "cauda_equina.bladder_bowel"),
    ("cant hold it anymore, wet myself twice today", E, "cauda_equina.bladder_bowel"),
    ("lost control of my bowels this morning", E, "cauda_equina.bladder_bowel"),
    ("havent been able to pee since yesterday", E, "cauda_equina.bladder_bowel"),
    ("having bladder issues and horrible back pain", E, "cauda_equina.bladder_back_pain"),
    ("my back aches and i have had a few leaks", E, "cauda_equina.bladder_back_pain"),
    ("sciatica shooting down both legs", E, "cauda_equina.both_legs"),
    (
        "started on the left and now its in the other leg too, sciatica",
        E,
        "cauda_equina.both_legs",
    ),
    ("my legs are going numb", E, "cauda_equina.legs_nerve_pain"),
    ("electric shocks down my legs", E, "cauda_equina.legs_nerve_pain"),
    ("my legs keep giving out", E, "cauda_equina.leg_weakness"),
    ("I can't walk since this morning", E, "cauda_equina.leg_weakness"),
    ("legs feel like jelly and wont hold me", E, "cauda_equina.leg_weakness"),
    ("my foot slaps the floor when i walk", E, "cauda_equina.foot_drop"),
    ("cant lift my toes, my foot drags", E, "cauda_equina.foot_drop"),
    ("got rear ended this morning and now my neck and back hurt", E, "trauma.major"),
    ("fell off a ladder, landed on my back, pain is bad", E, "trauma.major"),
    ("took a tumble down the stairs and hurt my back", E, "trauma.major"),
    ("crushing pain in my chest", E, "cardiac.chest_pain"),
    ("it feels like an elephant is sitting on my chest", E, "cardiac.chest_pain"),
    ("pain spreading to my jaw and left arm and im sweating", E, "cardiac.chest_pain"),
    ("sudden ripping pain in my back going into my belly", E, "vascular.tearing_pain"),
    ("worst headache of my life", E, "neuro.thunderclap_headache"),
    ("sudden explosive headache", E, "neuro.thunderclap_headache"),
    ("my husbands face is droopy on one side and hes slurring", E, "neuro.stroke"),
    ("suddenly the whole left side of my body went weak", E, "neuro.stroke"),
    ("i suddenly cant see out of one eye", E, "neuro.stroke"),
    ("cant catch my breath since the needles in my upper back", E, "respiratory.breathing"),
    ("sharp pain when i take a deep breath after my session", E, "respiratory.breathing"),
    ("i think i have a collapsed lung", E, "respiratory.breathing"),
    ("my dad passed out and we cant wake him", E, "collapse.unresponsive"),
    ("she fainted and isnt responding", E, "collapse.unresponsive"),
    ("my throat is closing up", E, "allergy.anaphylaxis"),
    ("my tongue is swelling", E, "allergy.anaphylaxis"),
    ("i want to kill myself", C, "suicide.ideation"),
    ("I don't want to be here anymore", C, "suicide.ideation"),
    ("feel like ending it", C, "suicide.ideation"),
    ("everyone would be better off without me", C, "suicide.ideation"),
    ("kms", C, "suicide.ideation"),
    ("i dont see the point in living anymore", C, "suicide.ideation"),
    ("sometimes i want to hurt myself when the pain gets bad", C, "self_harm.intent"),
    ("ive been cutting myself again", C, "self_harm.intent"),
    ("im going to take all my pills tonight", C, "overdose.intent"),
    ("i want to overdose on my pills", C, "overdose.intent"),
    ("i have a fever and my back hurts", U, "infection.fever_back_pain"),
    ("chills and night sweats plus lower back pain", U, "infection.fever_back_pain"),
    ("running a temp of 102 and my lower back hurts", U, "infection.fever_back_pain"),
    ("had breast cancer 3 yrs ago and now new back pain", U, "cancer.history_back_pain"),
    ("im on chemo and my back started hurting", U, "cancer.history_back_pain"),
    ("lost 20 lbs without trying and my back aches", U, "weight_loss.unexplained"),
    ("blisters came up where the cups were", U, "skin.burn_or_infection"),
    ("the needle spot is red hot and swollen with pus", U, "skin.burn_or_infection"),
    ("redness spreading from where the needle was", U, "skin.burn_or_infection"),
    ("i inject drugs and my back hurts", U, "drugs.iv_use"),
    ("severe back pain at night that doesnt ease with rest", U, "pain.night_unrelenting"),
]
ES_FLAGS = [
    ("adormecido entre las piernas", E, "cauda_equina.saddle_numbness"),
    ("siento hormigueo en la entrepierna", E, "cauda_equina.saddle_numbness"),
    ("no siento nada cuando me limpio", E, "cauda_equina.saddle_numbness"),
    ("no puedo orinar", E, "cauda_equina.bladder_bowel"),
    ("me hice pipi encima sin darme cuenta", E, "cauda_equina.bladder_bowel"),
    (
        "tengo problemas con la vejiga y un dolor de espalda terrible",
        E,
        "cauda_equina.bladder_back_pain",
    ),
    ("ciatica en ambas piernas", E, "cauda_equina.both_legs"),
    ("tengo las piernas entumidas", E, "cauda_equina.legs_nerve_pain"),
    ("se me doblan las piernas y no puedo caminar", E, "cauda_equina.leg_weakness"),
    ("no puedo levantar la punta del pie", E, "cauda_equina.foot_drop"),
    ("me cai de la escalera y me duele la espalda", E, "trauma.major"),
    ("tuve un accidente de carro y me duele el cuello", E, "trauma.major"),
    ("dolor en el pecho", E, "cardiac.chest_pain"),
    ("creo que me esta dando un infarto", E, "cardiac.chest_pain"),
    ("dolor desgarrador en la espalda de repente", E, "vascular.tearing_pain"),
    ("el peor dolor de cabeza de mi vida", E, "neuro.thunderclap_headache"),
    ("tengo la cara caida de un lado", E, "neuro.stroke"),
    ("no puedo mover el lado izquierdo del cuerpo", E, "neuro.stroke"),
    ("me falta el aire desde la acupuntura", E, "respiratory.breathing"),
    ("se desmayo y no despierta", E, "collapse.unresponsive"),
    ("se me esta cerrando la garganta", E, "allergy.anaphylaxis"),
    ("quiero morirme", C, "suicide.ideation"),
    ("no quiero vivir", C, "suicide.ideation"),
    ("pienso en quitarme la vida", C, "suicide.ideation"),
    ("quiero hacerme daño", C, "self_harm.intent"),
    ("me quiero cortar", C, "self_harm.intent"),
    ("me voy a tomar todas las pastillas", C, "overdose.intent"),
    ("tengo fiebre y dolor de espalda", U, "infection.fever_back_pain"),
    ("tuve cancer hace dos años y ahora me duele la espalda", U, "cancer.history_back_pain"),
    ("he bajado de peso sin razon y me duele la espalda", U, "weight_loss.unexplained"),
    ("me salieron ampollas por las ventosas", U, "skin.burn_or_infection"),
    ("uso drogas intravenosas y me duele la espalda", U, "drugs.iv_use"),
    ("dolor insoportable en la noche que no se quita con reposo", U, "pain.night_unrelenting"),
]
# Patients type fast on phones: typos, slang, run-ons, no accents, no punctuation.
MESSY = [
    ("numbess in my groine", E),
    ("numbnes around my privates", E),
    ("im having incontinance since yesterday", E),
    ("cant pee", E),
    ("i cant brethe", E),
    ("brething is hard since the needles", E),
    ("im sucidal", C),
    ("peed myself lol no joke my back is wrecked", E),
    ("cant hold it n my back is killing me", E),
    ("my bits feel numb", E),
    ("feel like ending it", C),
    ("kms fr", C),
    ("me cai de la escalera y me duele la espalda", E),
    ("Me caí del techo y me duele la espalda", E),
    ("no puedo respirar bien", E),
    ("tengo calentura y me duele la espalda", U),
    ("tengo numbness en la ingle", E),
]
# Negation reaches only the symptom right after it, in the same clause.
NEGATED = [
    "no numbness or tingling, just stiff",
    "I don't have a fever",
    "i dont think i have a fever but my back hurts",
    "sin fiebre",
    "no tengo entumecimiento",
    "no tengo ni fiebre ni escalofrios pero me duele la espalda",
    "no he tenido fiebre, solo dolor de espalda",
    "no bladder or bowel issues, just a pinch in my low back",
    "never had any numbness down there",
    "no chest pain or anything, just tight upper back muscles",
    "no siento dolor en el pecho",
    "im not suicidal, just frustrated",
    "no quiero morir, solo quiero que se me quite el dolor",
    "no trouble peeing or anything like that, just a dull ache",
]
STILL_FLAGGED = [
    ("no fever but I can't feel my legs", E),
    ("no fever, I can't feel my legs", E),
    ("no, I can't pee", E),
    ("no back pain but my groin is numb", E),
    ("I don't have a fever. My groin has been numb since Tuesday", E),
    ("not suicidal but sometimes I wish I wasn't alive", C),
    ("sin fiebre pero no puedo orinar", E),
    ("I've never had a headache like this", E),
    ("never had chest pain like this before", E),
    ("nunca me habia dolido tanto el pecho", E),
    ("call me if you can, I have chest pain", E),
    ("in case it matters, I can't feel my groin", E),
    ("I wish I could just go to sleep and not wake up", C),
]
# Cauda equina in the patient's own words: the bladder or bowel "not working right", retention,
# no urge or feeling, leaking and dribbling, with back pain or on their own.
BLADDER_BOWEL = [
    "my bladder isnt working right and my back is killing me",
    "bladder not working",
    "my bladder is not right since yesterday",
    "my bladder is acting up and my back hurts",
    "my bladder is acting weird",
    "my bowels arent working right and my back hurts",
    "my bowels have stopped working and my back hurts",
    "something is wrong with my bladder and my back is killing me",
    "I have no control of my bladder",
    "i can't control my bladder anymore",
    "bladder feels weird and my back is killing me",
    "peeing is weird since my back went out",
    "i havent peed all day",
    "havent had the urge to pee all day",
    "i dont feel the need to pee anymore",
    "i can't tell when i need to go",
    "i dont know when i need to pee",
    "i lost control of my bowels",
    "i keep peeing myself",
    "im dribbling pee",
    "my pee is just dribbling out",
    "only a trickle comes out when i pee",
    "i have to strain to pee",
    "i can barely pee",
    "i cant control it, i keep leaking",
    "i'm leaking and my back hurts",
    "back is killing me and ive been leaking",
    "my back hurts and i've been having accidents",
    "i cant make it to the toilet in time and my back hurts",
    "mi vejiga no funciona",
    "la vejiga no funciona bien y me duele la espalda",
    "mi vejiga esta rara y me duele la espalda",
    "mi vejiga esta fallando y me duele la espalda",
    "no controlo la vejiga",
    "no he hecho pipi desde ayer",
    "no siento cuando tengo ganas de orinar",
    "me estoy orinando encima",
    "me hice del baño encima",
    "gotea la orina",
    "me duele la espalda y se me escapa la orina",
]
# Other wordings of each category, English and Spanish, that the rules must generalise to.
MORE_FLAGS = [
    ("i cant feel my butt cheeks when i sit on the toilet", E),
    ("no puedo sentir mis nalgas", E),
    ("se me adormecio la entrepierna", E),
    ("both my legs went numb this morning", E),
    ("my legs gave out on the stairs", E),
    ("i feel like an elephant is sitting on my chest", E),
    ("my chest feels tight and my left arm is numb", E),
    ("siento opresion en el pecho", E),
    ("half my face is numb and my words are coming out wrong", E),
    ("i slipped on ice and landed on my back, cant move", E),
    ("after the needles in my shoulder i cant take a deep breath", E),
    ("no puedo respirar despues de las agujas", E),
    ("my wife collapsed and wont wake up", E),
    ("my lips and tongue are swelling after the treatment", E),
    ("i just want it all to end", C),
    ("i've been thinking about killing myself", C),
    ("nobody would care if i was gone", C),
    ("no one would care if i died", C),
    ("it would be better if i was dead", C),
    ("i dont want to live like this anymore", C),
    ("i'm thinking of overdosing on my meds", C),
    ("ya no quiero vivir", C),
    ("no le veo sentido a la vida", C),
    ("a nadie le importaria si me muero", C),
    ("estoy pensando en tomarme todas las pastillas", C),
    ("i have a fever since the cupping yesterday", U),
    ("the needle site is swollen red and oozing", U),
    ("back pain wakes me up every night and nothing helps", U),
    ("tengo fiebre desde la sesion", U),
    ("me salio pus donde me pusieron la aguja", U),
    ("perdi 10 kilos sin querer y me duele la espalda", U),
]
NEAR_MISSES = [
    "my bladder is fine",
    "my bladder is working fine and my back hurts",
    "no problems with my bladder or bowels",
    "no leaking or anything, my back just aches",
    "never had bladder issues",
    "i had bladder problems after my pregnancy years ago",
    "what if my bladder stops working",
    "can acupuncture help if my bladder isnt working right",
    "i almost peed myself at the gym",
    "i peed myself laughing",
    "i need to pee right now, can you hold my spot",
    "it burns when i pee",
    "my nose is dribbling",
    "i'm dribbling with sweat after the gym lol",
    "the roof is leaking and my back hurts from the bucket",
    "my back feels funny after cupping",
    "i have ibs and my bowels are acting up again",
    "no tengo problemas para orinar y me duele la espalda",
    "me duele la espalda pero orino bien",
    "no one would notice if i was late",
    "it would be better if i was here earlier",
    "i used to cut myself as a teen, doing better now",
    "what happens if i get a fever after acupuncture",
    "my grandma had a stroke last year, can you help her",
    "my back is stiff",
    "my lower back is killing me after moving boxes",
    "this pain is killing my golf game",
    "I'm dying to try cupping",
    "sciatica down my left leg",
    "pain shooting down my left leg only",
    "is cupping safe if I had a burn years ago",
    "my mom had cancer, can acupuncture help her stress",
    "can you do acupuncture if I'm on blood thinners",
    "a bit tired and sore after my session",
    "felt cold after the session",
    "that was a killer workout",
    "this traffic is deadly",
    "i would kill for a good back rub rn lol",
    "I need to cancel my appointment, my back is worse",
    "I can't stand up straight in the morning",
    "i cant walk far without my back aching",
    "I can't talk right now, can you text me",
    "I have a fever, should I cancel tomorrow?",
    "I had a car accident years ago and still have back pain",
    "can acupuncture cause a collapsed lung",
    "can you get an infection from acupuncture needles",
    "can acupuncture help with incontinence after pregnancy",
    "my dad died of a heart attack, is cupping safe for me",
    "the cupping marks are dark purple, is that normal",
    "ran 5 kms and my back hurts",
    "i fell asleep during my session lol",
    "had a fall last winter, still a bit sore",
    "I want to lose weight, can acupuncture help? also my back hurts",
    "estoy a dieta y he bajado de peso, la espalda me duele un poco",
    "me duele la espalda desde hace un año y tengo hormigueo en el pie",
    "me muero de ganas de probar las ventosas",
    "este dolor me mata",
    "la espalda me esta matando despues de la mudanza",
    "mi mamá tuvo cáncer, ¿la acupuntura le puede ayudar?",
    "¿las ventosas pueden causar quemaduras?",
    "tuve un accidente de carro hace años",
    "no puedo dormir bien por el dolor de espalda",
    "¿puede ser una sesión más corta?",
    "no hablo inglés, ¿tienen a alguien que hable español?",
    "no puedo dormir boca arriba por la espalda",
    "me inyectaron cortisona en la espalda el año pasado",
    "i'm pretty chill, my back just hurts",
    "my legs feel dead tired after the hike",
    "me queme con el sol, igual voy a mi cita de ventosas?",
    "me puedo infectar con las agujas?",
    "",
    "   ",
    "👍",
]


@pytest.fixture(scope="module")
def rules() -> RedFlagRules:
    return load_red_flag_rules(RULES_FILE)


@pytest.mark.parametrize(("text", "category", "rule"), EN_FLAGS + ES_FLAGS)
def test_each_rule_fires_with_its_category(
    rules: RedFlagRules, text: str, category: Category, rule: str
) -> None:
    assert triage(text, rules) == RedFlag(category, rule)


def test_every_rule_has_english_and_spanish_cases(rules: RedFlagRules) -> None:
    # The first rules have their cases here; every rule has examples in the rules file too.
    here = {rule for _, _, rule in EN_FLAGS} & {rule for _, _, rule in ES_FLAGS}
    for rule in rules.rules:
        langs = {lang for lang, _ in rule.examples}
        assert rule.id in here or langs == {"en", "es"}, rule.id


def test_each_rules_examples_fire_that_rule_and_not_a_neighbour(rules: RedFlagRules) -> None:
    fired = {
        (rule.id, text): triage(text, rules) for rule in rules.rules for _, text in rule.examples
    }
    assert fired
    wrong = {key: flag for key, flag in fired.items() if flag is None or flag.rule != key[0]}
    assert wrong == {}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("i took too many pills on purpose", "poisoning.overdose_taken"),
        ("tome muchas pastillas", "poisoning.overdose_taken"),
        ("took like 15 tylenol an hour ago", "poisoning.overdose_taken"),
        ("my son swallowed a button battery", "poisoning.ingestion"),
    ],
)
def test_an_overdose_taken_gets_the_poisoning_reply(
    rules: RedFlagRules, text: str, rule: str
) -> None:
    flag = triage(text, rules)
    assert flag is not None
    assert (flag.category, flag.rule, flag.message_key) == (E, rule, "red_flag_poisoning")


@pytest.mark.parametrize(
    "text",
    [
        "i took 2 advil before my session, is that ok?",
        "im thinking of overdosing on my meds",  # intent: the crisis reply, below
        "what if someone takes too many pills?",
    ],
)
def test_a_dose_an_intent_or_a_question_is_not_a_poisoning(rules: RedFlagRules, text: str) -> None:
    flag = triage(text, rules)
    assert flag is None or flag.rule != "poisoning.overdose_taken"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        (
            "my lung feels like it collapsed, short of breath after needles",
            "respiratory.breathing",
        ),
        ("i fainted after the needles", "syncope.fainted"),
        ("tengo 30 semanas de embarazo y sangro", "obstetric.bleeding_cramps_fluid"),
    ],
)
def test_the_rule_named_is_the_one_that_describes_the_message(
    rules: RedFlagRules, text: str, rule: str
) -> None:
    flag = triage(text, rules)
    assert flag is not None and flag.rule == rule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i have been throwing up since this morning", Category.CHECK),
        ("I have a fever, should I cancel tomorrow?", None),
        ("tiny drop of blood at one needle spot, it stopped right away", None),
        ("the usual tingling my doctor already checked", None),
        ("is it normal to feel dizzy after acupuncture?", None),
    ],
)
def test_the_safety_net_catches_a_present_symptom_and_not_a_question(
    rules: RedFlagRules, text: str, expected: Category | None
) -> None:
    flag = triage(text, rules)
    assert (flag.category if flag else None) == expected


@pytest.mark.parametrize(("text", "category"), MESSY + STILL_FLAGGED)
def test_typos_slang_and_clause_scoped_negation_still_flag(
    rules: RedFlagRules, text: str, category: Category
) -> None:
    flag = triage(text, rules)
    assert flag is not None
    assert flag.category == category


@pytest.mark.parametrize("text", BLADDER_BOWEL)
def test_bladder_or_bowel_not_working_is_an_emergency(rules: RedFlagRules, text: str) -> None:
    flag = triage(text, rules)
    assert flag is not None
    assert flag.category == E
    assert flag.rule.startswith("cauda_equina.bladder_")


@pytest.mark.parametrize(("text", "category"), MORE_FLAGS)
def test_other_wordings_flag_their_category(
    rules: RedFlagRules, text: str, category: Category
) -> None:
    flag = triage(text, rules)
    assert flag is not None
    assert flag.category == category


@pytest.mark.parametrize("text", NEGATED + NEAR_MISSES)
def test_negated_symptoms_and_near_misses_do_not_flag(rules: RedFlagRules, text: str) -> None:
    assert triage(text, rules) is None


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("i want to die and i cant feel my legs", E),
        ("my back hurts and I have a fever and I want to kill myself", C),
        ("I have a fever with back pain and chest pain", E),
    ],
)
def test_the_most_severe_category_wins(rules: RedFlagRules, text: str, category: Category) -> None:
    flag = triage(text, rules)
    assert flag is not None
    assert flag.category == category


def test_long_messages_are_read_whole(rules: RedFlagRules) -> None:
    # Speed is measured by bench/answering.py, never asserted here: the machines are shared.
    filler = "my back has been sore for weeks and I sit at a desk all day. " * 80
    assert len(filler) > 4000
    assert triage(filler, rules) is None
    flag = triage(filler + "now I can't pee", rules)
    assert flag == RedFlag(E, "cauda_equina.bladder_bowel")


GOOD_RULES = """
modifiers:
  negation: {en: [no], es: [sin]}
terms:
  FEVER: {en: [fever], es: [fiebre]}
rules:
  emergency: []
  crisis: []
  urgent:
    - id: infection.fever
      match: [FEVER]
"""


def test_a_minimal_rule_file_loads_and_negates(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD_RULES, encoding="utf-8")
    rules = load_red_flag_rules(path)
    assert triage("tengo fiebre", rules) == RedFlag(U, "infection.fever")
    assert triage("no fever", rules) is None


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("FEVER: {en: [fever], es: [fiebre]}", "FEVER: {en: [fever]}", 5, "missing .*es"),
        ("match: [FEVER]", "match: [CHILLS]", 11, "unknown TERM"),
        ("match: [FEVER]", "match: [FEVER]\n      colour: red", 10, "unknown"),
        ("id: infection.fever", "id: Fever", 10, "rule id"),
        ("  crisis: []\n", "", 7, "missing"),
        ("[fever]", "[fever, fever|chills-cough]", 5, "single words"),
        ("{en: [no], es: [sin]}", "{en: [no], es: [sin}", 3, ""),
        ("{en: [no], es: [sin]}", "{reach: sideways, en: [no], es: [sin]}", 3, "reach"),
        ("FEVER: {en: [fever], es: [fiebre]}", "FEVER: [fever, fiebre]", 5, "en: and es:"),
        ("FEVER: {en: [fever], es: [fiebre]}", "FEVER: {}\n  FEVER: {}", 6, "duplicate key"),
    ],
)
def test_bad_rule_files_name_the_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD_RULES.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}:{line}: .*{message}"):
        load_red_flag_rules(path)


# The messages the triage issue reported missed, each with what it needs.
ISSUE_EXAMPLES = [
    ("I took a whole bottle of my pain pills", E, "poisoning.overdose_taken"),
    ("I overdosed on my meds", E, "poisoning.overdose_taken"),
    ("took too many oxycodone", E, "poisoning.overdose_taken"),
    ("tomé muchas pastillas", E, "poisoning.overdose_taken"),
    ("I've been saving up my pills", C, "suicide.warning_signs"),
    ("i'm 30 weeks pregnant and having bleeding and cramps", E, "obstetric.bleeding_cramps_fluid"),
    ("30 semanas de embarazo y tengo sangrado y cólicos", E, "obstetric.bleeding_cramps_fluid"),
    ("i passed out in the parking lot after my appointment", E, "syncope.fainted"),
    ("I fainted after the needles", E, "syncope.fainted"),
    ("my heart is racing and I feel like I'm going to pass out", E, "syncope.fainted"),
    ("can't poop or pee since yesterday and back pain is 10/10", E, "cauda_equina.bladder_bowel"),
    ("I'm bleeding a lot from a needle spot and it won't stop", E, "bleeding.uncontrolled"),
    ("estoy sangrando mucho donde me pusieron la aguja y no para", E, "bleeding.uncontrolled"),
    ("no vale la pena seguir viviendo con este dolor", C, "suicide.ideation"),
    (
        "my lung feels like it collapsed, short of breath after needles in my shoulder",
        E,
        "respiratory.breathing",
    ),
]


@pytest.mark.parametrize(("text", "category", "rule"), ISSUE_EXAMPLES)
def test_the_messages_the_issue_reported_missed_now_get_their_rule(
    rules: RedFlagRules, text: str, category: Category, rule: str
) -> None:
    assert triage(text, rules) == RedFlag(category, rule)


def test_asking_how_to_tell_an_emergency_gets_the_back_pain_answer(answerer: Answerer) -> None:
    for text in (
        "how do i know if my back pain is an emergency",
        "como se si mi dolor de espalda es una emergencia",
    ):
        reply = answerer.answer(text)
        assert (reply.kind, reply.topic) == ("faq", "conditions.back_pain")

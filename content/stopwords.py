"""Function words that say nothing about a topic, folded (no accents), per language."""

from __future__ import annotations

__all__ = ["LANGUAGE_MARKERS", "LANGUAGE_NEUTRAL", "STOPWORDS"]

_EN = """
a about again all am an and any are as at be been being but by can could did do
does doing dont for from get got had has have having he her here hi hey him his how i id if im in
into is it its ive just me might my myself no not of off on once only or other our out own
please really she should so some such than thanks that thats the their them then there these they
this those to too u um up us very was we were what whats when where which while who why will
with would ya yeah yes you your youre yours ok okay hello lol pls plz thx wanna gonna kinda
also anyone anything someone something still thing things know
ill isnt wasnt cant wont didnt doesnt arent
r ur urs ppl rn tho nah wat wut bc cuz tbh idk yall guys pretty actually even like
k kk hmm hm ugh oh omg btw anyway anyways hows wheres
"""
_ES = """
a al algo algun alguna alguno como con cual cuales de del donde el ella ellas ellos en entre era
es esa ese eso esta estan estas este esto estoy fue ha hay he la las le les lo los me mi mis muy
nada ni no nos o para pero por porque que quien se ser si sin sobre su sus tambien te tengo ti
tiene tu tus un una uno unos unas usted ustedes y ya yo hola gracias favor pues bueno oiga
puedo puede pueden hacer hago saber quiero quisiera gustaria
porfa porfis xfa pls plis oye ok vale osea ahi aqui asi mas
q xq pq k tmb tambn
podria podrias podrian puedes podemos pudiera pudieran consiste
"""

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(_EN.split()),
    "es": frozenset(_ES.split()),
}

# Content words common in patients' messages that say which language they are written in.
_EN_MARKERS = """
pain back hurt hurts needle needles cost costs price much many long appointment book cancel
insurance pregnant session sessions first visit time open hours help work does feel after
before today tomorrow week day need want take safe treat treatment doctor neck shoulder
"""
_ES_MARKERS = """
dolor duele espalda cuanto cuesta cuesta precio cita citas agujas aguja ventosas acupuntura
seguro embarazada sesion sesiones primera vez horario abren manana hoy semana dia dias
necesito ayuda sirve cuello hombro tratamiento medico doctora buenas buenos tardes noches
hacen tienen estoy soy esta mucho mucha cuantas cuantos cuando despues antes hola
"""
# Words shared by both languages, or said the same way in both, that prove nothing.
_NEUTRAL = """
a no me he ok okay k thanks thank thx ty lol haha jaja si mi yes hi hey hello bye
"""

LANGUAGE_NEUTRAL = frozenset(_NEUTRAL.split())
LANGUAGE_MARKERS: dict[str, frozenset[str]] = {
    lang: (STOPWORDS[lang] | frozenset(markers.split())) - LANGUAGE_NEUTRAL
    for lang, markers in (("en", _EN_MARKERS), ("es", _ES_MARKERS))
}

"""English irregular word forms, so that an index term meets the question's word whatever the
tense or number: questions ask in the present ("What does Jim keep?", "Who takes...?"), books
tell in the past ("kept", "took"); "men" is the plural of "man".

`BASE_FORM` maps each irregular form to its base form; `passages.fold` folds the base form.
Forms whose other reading is common in books are left out: "rose" (the flower), "wound" (an
injury), "ground", "bit" ("a bit"), "bound" ("bound for"). Forms that are stopwords ("was",
"did", "had") never reach the table.
"""

from __future__ import annotations

# base form, then its irregular past and participle forms (regular ones fold by suffix).
_FORMS = """
arise arose arisen|awake awoke awoken|bear bore borne|beat beaten|become became|begin began begun|
bend bent|bite bitten|bleed bled|blow blew blown|break broke broken|breed bred|
bring brought|build built|burn burnt|buy bought|catch caught|choose chose chosen|cling clung|
come came|creep crept|deal dealt|dig dug|draw drew drawn|dream dreamt|drink drank drunk|
drive drove driven|eat ate eaten|fall fell fallen|feed fed|feel felt|fight fought|find found|
flee fled|fling flung|fly flew flown|forbid forbade forbidden|forget forgot forgotten|
forgive forgave forgiven|freeze froze frozen|give gave given|go went gone|
grow grew grown|hang hung|hear heard|hide hid hidden|hold held|keep kept|kneel knelt|
know knew known|lay laid|lead led|leap leapt|leave left|lend lent|lie lain|light lit|lose lost|
make made|mean meant|meet met|pay paid|ride rode ridden|ring rang rung|rise risen|run ran|
say said|see saw seen|seek sought|sell sold|send sent|shake shook shaken|shine shone|shoot shot|
show shown|shrink shrank shrunk|sing sang sung|sink sank sunk|sit sat|slay slew slain|
sleep slept|slide slid|sling slung|speak spoke spoken|speed sped|spend spent|spin spun|spit spat|
spring sprang sprung|stand stood|steal stole stolen|stick stuck|sting stung|stink stank|
stride strode|strike struck stricken|string strung|strive strove striven|swear swore sworn|
sweep swept|swim swam swum|swing swung|take took taken|teach taught|tear tore torn|tell told|
think thought|throw threw thrown|understand understood|wake woke woken|wear wore worn|
weave wove woven|weep wept|win won|wring wrung|write wrote written|
man men|woman women|child children|foot feet|tooth teeth|mouse mice|goose geese|ox oxen|
"""

BASE_FORM: dict[str, str] = {
    form: group.split()[0]
    for group in _FORMS.replace("\n", "").split("|")
    for form in group.split()[1:]
}

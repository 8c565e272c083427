"""The 予診票 form follows the line (issue 20 item 5): infants keep 様式第二; B類 adults answer for
themselves; pregnant women are asked the RSウイルス 母子免疫 questions; 高齢者肺炎球菌 asks about any
earlier pneumococcal vaccine and 高齢者インフルエンザ about the 高用量 vaccine."""
from sesshu.tickets.render import questionnaire_of


def test_infant_form_is_the_default():
    form, questions, consent = questionnaire_of("MR")
    assert form == "" and any("ひきつけ" in q for q in questions) and "同意します" in consent


def test_pregnant_form_for_rsv_maternal():
    form, questions, consent = questionnaire_of("RSV_MATERNAL")
    assert form == "pregnant"
    text = "".join(questions)
    assert "妊娠" in text and "出産予定日" in text and "妊娠高血圧症候群" in text and "今回の妊娠で" in text
    assert "本人の意思" in consent and questions[-1].startswith("今日の予防接種について質問")


def test_adult_forms_carry_the_lines_own_questions():
    _f, pcv, _c = questionnaire_of("PCV20_ELDER")
    assert any("肺炎球菌ワクチン（23価・20価" in q for q in pcv)
    _f, flu, _c = questionnaire_of("FLU_ELDER")
    assert any("高用量" in q and "75歳以上" in q for q in flu)
    assert questionnaire_of("COVID")[0] == "adult" and not any("高用量" in q for q in questionnaire_of("COVID")[1])

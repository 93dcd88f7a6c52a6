# Unit tests for signals.rego, run by `gateway policy test` on both engines.
package signals_test

import rego.v1

import data.signals

cat := data.catalog

party(org_type, role) := {"verified": true, "oin": "00000099000000000001", "org_type": org_type, "role": role}

reg(org_type, role, area) := {"action": "register", "requester": party(org_type, role), "area": area, "consent": false}

reg_consent(org_type, role, area) := {"action": "register", "requester": party(org_type, role), "area": area, "consent": true}

side(org_type, role, area) := {"org_type": org_type, "role": role, "area": area}

learns(mine, theirs) := signals.decide({"action": "match", "signal": mine, "other": theirs}, cat)

refused(inp, reason) if {
	d := signals.decide(inp, cat)
	d.allow == false
	reason in d.reasons
}

woning := side("woningcorporatie", "woonconsulent", "schulden")

wijkteam := side("gemeente", "wijkteam_medewerker", "overlast")

ggz := side("ggz", "ggz_behandelaar", "psychische_gezondheid")

# (The default decision itself is tested from Python on both engines: `with input as` on a rule
# that calls functions is one of the constructs rego-cpp does not take, ADR 0009.)

test_unknown_action_denies if {
	not signals.decide({"action": "delete"}, cat)
}

test_housing_signals_debts_with_its_basis if {
	d := signals.decide(reg("woningcorporatie", "woonconsulent", "schulden"), cat)
	d.allow == true
	contains(d.basis, "vroegsignalering")
}

test_housing_may_not_signal_mental_health if {
	refused(reg("woningcorporatie", "woonconsulent", "psychische_gezondheid"), "area_not_permitted")
}

test_unverified_requester_is_refused if {
	inp := object.union(reg("gemeente", "wijkteam_medewerker", "schulden"), {"requester": {"verified": false, "oin": "00000099000000000001", "org_type": "gemeente", "role": "wijkteam_medewerker"}})
	refused(inp, "requester_unverified")
}

test_role_of_another_org_type_is_refused if {
	refused(reg("gemeente", "wijkagent", "overlast"), "requester_unverified")
}

test_org_type_without_rights_is_refused if {
	refused(reg("onbekend", "woonconsulent", "schulden"), "requester_unverified")
}

test_unknown_area_is_refused if {
	refused(reg("gemeente", "wijkteam_medewerker", "geheim_dossier"), "area_unknown")
}

test_ggz_signals_only_with_consent if {
	refused(reg("ggz", "ggz_behandelaar", "psychische_gezondheid"), "consent_required")
	d := signals.decide(reg_consent("ggz", "ggz_behandelaar", "psychische_gezondheid"), cat)
	d.allow == true
}

test_consent_must_be_true_not_truthy if {
	inp := object.union(reg("ggz", "ggz_behandelaar", "psychische_gezondheid"), {"consent": "yes"})
	refused(inp, "consent_required")
}

test_housing_and_wijkteam_match_on_debts_and_nuisance if {
	learns(woning, wijkteam).allow == true
	learns(wijkteam, woning).allow == true
}

test_non_sensitive_areas_are_shown if {
	learns(woning, wijkteam).reveal_area == true
}

test_housing_is_never_matched_on_mental_health if {
	learns(woning, ggz).allow == false
	"area_not_shared" in learns(woning, ggz).reasons
}

test_sensitive_area_hidden_from_those_outside_revealed_to if {
	gemeente_psych := side("gemeente", "meldpunt_medewerker", "psychische_gezondheid")
	d := learns(gemeente_psych, ggz)
	d.allow == true
	d.reveal_area == false
	learns(ggz, gemeente_psych).reveal_area == true
}

test_a_signal_its_holder_may_no_longer_make_never_matches if {
	rogue := side("woningcorporatie", "woonconsulent", "huiselijk_geweld")
	"signal_not_permitted" in learns(rogue, wijkteam).reasons
	"other_not_permitted" in learns(wijkteam, rogue).reasons
}

test_match_with_missing_members_denies if {
	d := signals.decide({"action": "match", "signal": woning}, cat)
	d.allow == false
}

# Unit tests for sharing.rego: one or more per rule of DOMAIN.md ("Rules every policy set must
# enforce"), run by `gateway policy test` (and by `opa test policies/` where OPA is installed).
#
# Tests call sharing.decide(input, catalog) directly rather than `decision with input as ...`:
# the embedded engine does not support `with` on rules that reference other rules.
package sharing_test

import rego.v1

import data.sharing

cat := data.catalog

gemeente := "00000099000000000001"

politie := "00000099000000000002"

ggz := "00000099000000000008"

base := {
	"requester": {"verified": true, "oin": gemeente, "org_type": "gemeente", "role": "procesregisseur"},
	"case": {
		"found": true, "id": "case-1", "status": "open", "stage": "casusoverleg",
		"purpose": "mda_plus_plus", "participants": [gemeente, politie],
	},
	"subject": {"linked": true, "relation": "hoofdpersoon", "minor": false, "consents": []},
	"request": {"source": "politie.incidenten", "fields": [], "urgency": "regulier", "justified": false},
}

# with_(part, changes): the base input with one part's members replaced.
with_(part, changes) := object.union(base, {part: object.union(base[part], changes)})

with2(p1, c1, p2, c2) := object.union(with_(p1, c1), {p2: object.union(base[p2], c2)})

wvggz(role, org_type, oin, source, request) := object.union(base, {
	"requester": {"verified": true, "oin": oin, "org_type": org_type, "role": role},
	"case": object.union(base.case, {"purpose": "wvggz_verkennend_onderzoek", "participants": [gemeente, ggz, politie]}),
	"request": object.union(base.request, object.union({"source": source}, request)),
})

denied_for(inp, reason) if {
	d := sharing.decide(inp, cat)
	d.allow == false
	reason in d.reasons
	count(d.fields) == 0
}

# --- Rule 1: deny by default ------------------------------------------------------------------

test_default_decision_denies if {
	# No input at all: the default applies.
	sharing.decision.allow == false
	"policy_undefined" in sharing.decision.reasons
}

test_missing_input_parts_leave_decide_undefined if {
	not sharing.decide({}, cat)
	denied_for(object.remove(base, ["case"]), "case_not_found")
}

test_base_input_is_allowed if {
	d := sharing.decide(base, cat)
	d.allow == true
	d.reasons == []
}

# --- Rule 2: the requester comes from the verified token ------------------------------------

test_unverified_requester_denied if {
	denied_for(with_("requester", {"verified": false}), "requester_unverified")
}

test_role_must_belong_to_org_type if {
	denied_for(with_("requester", {"role": "wijkagent"}), "requester_unverified")
}

test_unknown_role_denied if {
	denied_for(with_("requester", {"role": "burgemeester_zelf"}), "requester_unverified")
}

# --- Rule 3: case exists, is open, has a purpose, lists the requester; subject is linked ------

test_unknown_case_denied if {
	denied_for(with_("case", {"found": false}), "case_not_found")
}

test_unknown_case_reports_only_that if {
	sharing.decide(with_("case", {"found": false, "participants": []}), cat).reasons == ["case_not_found"]
}

test_unlinked_subject_reports_no_age_scope if {
	inp := object.union(base, {"subject": {"linked": false}})
	sharing.decide(inp, cat).reasons == ["subject_not_in_case"]
}

test_closed_case_denied if {
	denied_for(with_("case", {"status": "closed"}), "case_closed")
	denied_for(with_("case", {"stage": "afgesloten"}), "case_closed")
}

test_unregistered_purpose_denied if {
	denied_for(with_("case", {"purpose": "algemene_nieuwsgierigheid"}), "purpose_unknown")
}

test_non_participant_denied if {
	denied_for(with_("case", {"participants": [politie]}), "not_a_participant")
}

test_org_type_outside_purpose_denied if {
	# A GGZ organisation listed on an MDA++ case is still not an MDA++ partner.
	inp := object.union(
		with_("requester", {"oin": ggz, "org_type": "ggz", "role": "ggz_behandelaar"}),
		{"case": object.union(base.case, {"participants": [ggz]})},
	)
	denied_for(inp, "org_type_not_in_purpose")
}

test_subject_outside_case_denied if {
	denied_for(with_("subject", {"linked": false}), "subject_not_in_case")
}

test_source_outside_purpose_denied if {
	denied_for(with_("request", {"source": "ggz.behandeling"}), "source_not_in_purpose")
}

test_unknown_source_denied if {
	denied_for(with_("request", {"source": "belastingdienst.aangifte"}), "source_unknown")
}

test_denied_request_withholds_every_requested_field if {
	d := sharing.decide(with_("case", {"found": false}), cat)
	d.withheld.aantal_incidenten_12m == "request_denied"
	d.withheld.wapens == "request_denied"
}

# --- Rule 4: requested ∩ necessary ∩ offered; geheim never leaves -----------------------------

test_only_requested_fields if {
	d := sharing.decide(with_("request", {"fields": ["wapens"]}), cat)
	object.keys(d.fields) == {"wapens"}
	count(d.withheld) == 0
}

test_not_necessary_field_withheld if {
	# The wijkagent's MDA++ row has no politie.incidenten at all: own data is not shared back.
	inp := with2("requester", {"oin": politie, "org_type": "politie", "role": "wijkagent"}, "request", {"source": "om.strafzaken"})
	d := sharing.decide(inp, cat)
	d.withheld.status == "not_necessary"
	d.fields.contactverbod.transform == "plain"
}

test_unknown_field_not_offered if {
	d := sharing.decide(with_("request", {"fields": ["wapens", "schoenmaat"]}), cat)
	d.withheld.schoenmaat == "not_offered"
	d.fields.wapens
}

test_geheim_never_released if {
	d := sharing.decide(with_("request", {"fields": ["processen_verbaal"]}), cat)
	d.allow == false
	d.withheld.processen_verbaal == "geheim"
}

test_geheim_never_released_even_if_the_matrix_lists_it if {
	leaky := object.union(cat, {"necessity": {"mda_plus_plus": {"casusoverleg": {"procesregisseur": {
		"politie.incidenten": {"processen_verbaal": "plain"},
	}}}}})
	d := sharing.decide(with_("request", {"fields": ["processen_verbaal"]}), leaky)
	d.withheld.processen_verbaal == "geheim"
	count(d.fields) == 0
}

test_screening_releases_only_dat_information if {
	d := sharing.decide(with_("case", {"stage": "screening"}), cat)
	d.fields == {"aantal_incidenten_12m": {"transform": "exists", "basis": "wpg_20", "break_glass": false}}
}

test_aanmelding_releases_nothing if {
	d := sharing.decide(with_("case", {"stage": "aanmelding"}), cat)
	d.allow == false
	d.reasons == ["no_field_released"]
	d.withheld.wapens == "not_necessary"
}

test_monitoring_releases_status_only if {
	d := sharing.decide(with_("case", {"stage": "monitoring"}), cat)
	object.keys(d.fields) == {"aantal_incidenten_12m", "laatste_incident"}
	d.withheld.risicotaxatie == "not_necessary"
}

# --- Rule 5: special categories and criminal-law data -----------------------------------------

test_bijzonder_needs_a_basis_for_purpose_and_source if {
	no_vt_basis := object.union(cat, {"purposes": {"mda_plus_plus": object.union(cat.purposes.mda_plus_plus, {
		"bases": [b | some b in cat.purposes.mda_plus_plus.bases; b.id != "wmo_5_2_6"],
	})}})
	inp := with_("request", {"source": "veilig_thuis.meldingen"})
	sharing.decide(inp, cat).fields.risico
	d := sharing.decide(inp, no_vt_basis)
	d.withheld.risico == "no_special_category_basis"
	d.allow == false
}

test_strafrechtelijk_needs_wpg_or_wjsg if {
	avg_only := object.union(cat, {"purposes": {"mda_plus_plus": object.union(cat.purposes.mda_plus_plus, {"bases": [{
		"id": "avg_6_1_e", "law": "avg", "covers": ["gewoon", "strafrechtelijk"],
		"sources": ["politie.incidenten"],
	}]})}})
	d := sharing.decide(base, avg_only)
	d.withheld.wapens == "no_criminal_data_basis"
	d.allow == false
}

test_ggz_needs_consent if {
	inp := wvggz("meldpunt_medewerker", "gemeente", gemeente, "ggz.behandeling", {})
	d := sharing.decide(inp, cat)
	d.withheld.in_behandeling == "consent_required"
	d.withheld.regiebehandelaar == "consent_required"
	d.allow == false
}

test_ggz_with_consent_releases_necessary_fields if {
	inp := object.union(
		wvggz("meldpunt_medewerker", "gemeente", gemeente, "ggz.behandeling", {}),
		{"subject": object.union(base.subject, {"consents": ["ggz.behandeling"]})},
	)
	d := sharing.decide(inp, cat)
	d.fields.in_behandeling.transform == "exists"
	d.fields.regiebehandelaar.transform == "contact"
	d.withheld.diagnose == "geheim"
	d.withheld.medicatie == "geheim"
	d.obligations == []
}

# --- Rule 6: minors only where the purpose's scope includes children ------------------------

test_minor_out_of_scope_denied if {
	inp := object.union(
		wvggz("meldpunt_medewerker", "gemeente", gemeente, "gemeente.brp", {}),
		{"subject": object.union(base.subject, {"minor": true, "relation": "kind"})},
	)
	denied_for(inp, "minor_out_of_scope")
}

test_minor_in_scope_for_mda if {
	inp := object.union(
		with_("request", {"source": "gemeente.brp"}),
		{"subject": object.union(base.subject, {"minor": true, "relation": "kind"})},
	)
	sharing.decide(inp, cat).allow == true
}

test_minor_flag_must_be_present if {
	# Built member by member: object.union merges nested objects on OPA (replaces them on
	# rego-cpp), so it cannot remove a member portably (docs/adr/0009-portable-rego.md).
	inp := {
		"requester": base.requester,
		"case": base.case,
		"subject": object.remove(base.subject, ["minor"]),
		"request": base.request,
	}
	denied_for(inp, "minor_out_of_scope")
}

# --- Rule 7: urgency opens only the narrow break-glass set, with justification and review -----

test_urgent_without_justification_opens_nothing if {
	inp := wvggz("meldpunt_medewerker", "gemeente", gemeente, "ggz.behandeling", {"urgency": "spoed"})
	d := sharing.decide(inp, cat)
	d.withheld.crisiskaart_contact == "justification_required"
	d.allow == false
}

test_urgent_with_justification_opens_break_glass_set_for_review if {
	inp := wvggz("meldpunt_medewerker", "gemeente", gemeente, "ggz.behandeling", {"urgency": "spoed", "justified": true})
	d := sharing.decide(inp, cat)
	object.keys(d.fields) == {"crisiskaart_contact"}
	d.fields.crisiskaart_contact == {"transform": "contact", "basis": "wvggz_5_2", "break_glass": true}
	d.withheld.in_behandeling == "consent_required"
	d.withheld.diagnose == "geheim"
	d.obligations[0].type == "review"
	d.obligations[0].by == "privacy_officer"
}

# Break-glass lifts only the consent requirement: never past the role's necessity row at the
# case's stage (the defect `gateway policy prove` found in the policy as it was).
test_break_glass_never_opens_a_field_the_row_does_not_list if {
	# A wijkteam_medewerker has no row in WvGGZ verkennend onderzoek.
	inp := wvggz("wijkteam_medewerker", "gemeente", gemeente, "ggz.behandeling", {"urgency": "spoed", "justified": true})
	d := sharing.decide(inp, cat)
	count(d.fields) == 0
	d.withheld.crisiskaart_contact == "not_necessary"
}

test_break_glass_never_opens_anything_at_aanmelding if {
	inp := wvggz("meldpunt_medewerker", "gemeente", gemeente, "ggz.behandeling", {"urgency": "spoed", "justified": true})
	d := sharing.decide(object.union(inp, {"case": object.union(inp.case, {"stage": "aanmelding"})}), cat)
	count(d.fields) == 0
}

test_recording_consent_never_releases_less_than_break_glass if {
	urgent := wvggz("meldpunt_medewerker", "gemeente", gemeente, "ggz.behandeling", {"urgency": "spoed", "justified": true})
	consented := object.union(urgent, {"subject": object.union(urgent.subject, {"consents": ["ggz.behandeling"]})})
	without := sharing.decide(urgent, cat)
	with_consent := sharing.decide(consented, cat)
	every f, _ in without.fields {
		with_consent.fields[f]
	}
}

test_urgency_horizon_follows_the_requesters_org_type if {
	inp := wvggz("wijkagent", "politie", politie, "ggz.behandeling", {"urgency": "spoed", "justified": true})
	d := sharing.decide(inp, cat)
	d.obligations[0].urgency_horizon == "PT15M"
}

test_break_glass_only_where_the_purpose_defines_it if {
	# MDA++ has no break-glass set: urgency changes nothing.
	inp := with_("request", {"urgency": "spoed", "justified": true, "source": "veilig_thuis.meldingen"})
	d := sharing.decide(inp, cat)
	d.obligations == []
	every _, g in d.fields { g.break_glass == false }
}

test_regular_request_gets_no_review if {
	d := sharing.decide(base, cat)
	d.obligations == []
}

# --- Rule 8: each decision explains itself ------------------------------------------------------

test_every_requested_field_is_explained if {
	pairs := [[s, f] |
		some s in cat.purposes.mda_plus_plus.sources
		some f in object.keys(cat.sources[s].fields)
	]
	count(pairs) > 30
	unexplained := [p |
		some p in pairs
		not explained(sharing.decide(with_("request", {"source": p[0]}), cat), p[1])
	]
	unexplained == []
}

explained(d, f) if d.fields[f].basis

explained(d, f) if is_string(d.withheld[f])

test_every_released_field_has_transform_and_basis if {
	every source in cat.purposes.zvh_casusoverleg.sources {
		every _, g in sharing.decide(object.union(with_("request", {"source": source}), {"case": object.union(base.case, {"purpose": "zvh_casusoverleg"})}), cat).fields {
			g.transform in {"plain", "exists", "count", "band", "year", "age", "contact"}
			is_string(g.basis)
		}
	}
}

# --- Explanation: the rule path, for the dry run -------------------------------------------

test_explanation_names_the_step_that_withholds if {
	e := sharing.explain(with_("request", {"fields": ["processen_verbaal", "wapens"]}), cat)
	{"step": "sensitivity", "result": "geheim or unknown: never released"} in e.fields.processen_verbaal
	{"step": "necessity", "result": "in the role's row at this stage: exists"} in e.fields.wapens
	{"step": "legal_basis", "result": "wpg_20"} in e.fields.wapens
	every c in e.request_checks {
		c.result == "passed"
	}
}

test_explanation_names_a_failed_request_check if {
	e := sharing.explain(with_("requester", {"verified": false}), cat)
	{"check": "requester_unverified", "result": "failed"} in e.request_checks
}

test_explanation_of_break_glass if {
	inp := wvggz("meldpunt_medewerker", "gemeente", gemeente, "ggz.behandeling", {"urgency": "spoed", "justified": true})
	e := sharing.explain(inp, cat)
	{"step": "consent", "result": "consent needed and not recorded"} in e.fields.crisiskaart_contact
	{"step": "break_glass", "result": "in the purpose's break-glass set: contact"} in e.fields.crisiskaart_contact
}

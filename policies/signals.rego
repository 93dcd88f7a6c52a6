# Signals policy: who may say "we are involved with this person" on which area of concern, and
# which two signals on the same person make a match (who learns of whom, and whether the area
# is shown).
#
# Entry point: data.signals.decision
#   register: {"action": "register", "requester": {verified, oin, org_type, role},
#              "area": <area>, "consent": <bool>}
#   match:    {"action": "match", "signal": {org_type, role, area}, "other": {org_type, role, area}}
#             — may the holder of `signal` be told of `other`? A match needs both directions.
# Output:     {"allow", "reasons", "basis", "reveal_area"}   (docs/signals-policy.md)
# Data:       data.catalog.{roles, signal_areas, signal_rights}  (policies/catalog/signals.yaml)
#
# Written as functions of (inp, cat), like sharing.rego, and to the same portable constructs
# (docs/adr/0009-portable-rego.md): helpers are "true or undefined", negations call helpers on
# whole documents only.
package signals

import rego.v1

# Deny by default: a missing input member or a catalogue gap ends here.
default decision := {"allow": false, "reasons": ["policy_undefined"], "basis": null, "reveal_area": false}

decision := decide(input, data.catalog)

decide(inp, cat) := d if {
	inp.action == "register"
	d := register_decision(inp, cat)
} else := d if {
	inp.action == "match"
	d := match_decision(inp, cat)
}

# ---------------------------------------------------------------------------------------------
# Registering

register_checks := [
	"requester_unverified",
	"area_unknown",
	"org_type_may_not_signal",
	"role_may_not_signal",
	"area_not_permitted",
	"consent_required",
]

register_decision(inp, cat) := d if {
	reasons := [r | some r in register_checks; register_denied(r, inp, cat)]
	count(reasons) > 0
	d := {"allow": false, "reasons": reasons, "basis": null, "reveal_area": false}
} else := d if {
	right := cat.signal_rights[inp.requester.org_type].signal[inp.area]
	d := {"allow": true, "reasons": [], "basis": right.basis, "reveal_area": false}
}

register_denied("requester_unverified", inp, cat) if not requester_verified(inp, cat)

register_denied("area_unknown", inp, cat) if not area_named(inp, cat)

register_denied("org_type_may_not_signal", inp, cat) if {
	requester_verified(inp, cat)
	not requester_org_type_signals(inp, cat)
}

register_denied("role_may_not_signal", inp, cat) if {
	requester_org_type_signals(inp, cat)
	not requester_role_signals(inp, cat)
}

register_denied("area_not_permitted", inp, cat) if {
	area_named(inp, cat)
	requester_role_signals(inp, cat)
	not requester_area_permitted(inp, cat)
}

register_denied("consent_required", inp, cat) if {
	requester_area_permitted(inp, cat)
	consent_needed(inp.requester, inp.area, cat)
	not consent_given(inp)
}

requester_verified(inp, cat) if {
	inp.requester.verified == true
	is_string(inp.requester.oin)
	some t in cat.roles[inp.requester.role].org_types
	t == inp.requester.org_type
}

# Helpers negated above take whole documents (inp, cat): ADR 0009, rule 1.
area_named(inp, cat) if area_known(inp.area, cat)

requester_org_type_signals(inp, cat) if org_type_signals(inp.requester, cat)

requester_role_signals(inp, cat) if role_signals(inp.requester, cat)

requester_area_permitted(inp, cat) if area_permitted(inp.requester, inp.area, cat)

area_known(area, cat) if is_object(cat.signal_areas[area])

org_type_signals(party, cat) if is_object(cat.signal_rights[party.org_type])

role_signals(party, cat) if {
	some role in cat.signal_rights[party.org_type].roles
	role == party.role
}

area_permitted(party, area, cat) if {
	area_known(area, cat)
	is_object(cat.signal_rights[party.org_type].signal[area])
}

consent_needed(party, area, cat) if cat.signal_rights[party.org_type].signal[area].consent_required == true

consent_given(inp) if inp.consent == true

# ---------------------------------------------------------------------------------------------
# Matching: may the holder of inp.signal learn of inp.other?

match_checks := ["signal_not_permitted", "other_not_permitted", "area_not_shared"]

match_decision(inp, cat) := d if {
	reasons := [r | some r in match_checks; match_denied(r, inp, cat)]
	count(reasons) > 0
	d := {"allow": false, "reasons": reasons, "basis": null, "reveal_area": false}
} else := {"allow": true, "reasons": [], "basis": null, "reveal_area": true} if {
	area_revealed(inp.signal, inp.other.area, cat)
} else := {"allow": true, "reasons": [], "basis": null, "reveal_area": false}

# Both signals must still be ones their holders may make under the policy in force (a right
# withdrawn since stops the matching of signals made under it).
match_denied("signal_not_permitted", inp, cat) if not holder_permitted(inp, cat)

match_denied("other_not_permitted", inp, cat) if not other_permitted(inp, cat)

match_denied("area_not_shared", inp, cat) if not area_shared(inp, cat)

holder_permitted(inp, cat) if signal_permitted(inp.signal, cat)

other_permitted(inp, cat) if signal_permitted(inp.other, cat)

area_shared(inp, cat) if matched_on(inp.signal, inp.other.area, cat)

signal_permitted(party, cat) if {
	role_signals(party, cat)
	area_permitted(party, party.area, cat)
}

matched_on(party, area, cat) if {
	area_known(area, cat)
	some a in cat.signal_rights[party.org_type].match_on
	a == area
}

# An area is shown unless it is sensitive, and then only to the organisation types that act on it.
area_revealed(_, area, cat) if cat.signal_areas[area].sensitive == false

area_revealed(party, area, cat) if {
	cat.signal_areas[area].sensitive == true
	some t in cat.signal_areas[area].revealed_to
	t == party.org_type
}

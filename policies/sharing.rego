# Purpose-bound sharing policy: one decision per (request, source).
#
# Entry point: data.sharing.decision  (input: docs/policy-input.md, output: docs/decision.md)
# Data:        data.catalog.{org_types, roles, sources, purposes, necessity}  (policies/catalog/)
#
# The whole policy is written as functions of (inp, cat) so that the unit tests in
# sharing_test.rego can call it with any input and catalogue without `with` (which the embedded
# engine does not support on rules that reference other rules). Keep to the constructs the
# conformance tests pin (docs/adr/0002-embedded-rego.md); the same file runs on real OPA.
package sharing

import rego.v1

# Deny by default (DOMAIN rule 1): if anything below is undefined — a missing input field, a
# catalogue gap — this is the decision.
default decision := {
	"allow": false,
	"source": null,
	"reasons": ["policy_undefined"],
	"fields": {},
	"withheld": {},
	"obligations": [],
}

decision := decide(input, data.catalog)

# ---------------------------------------------------------------------------------------------
# The decision document

decide(inp, cat) := d if {
	reasons := request_denials(inp, cat)
	count(reasons) > 0
	d := {
		"allow": false,
		"source": inp.request.source,
		"reasons": reasons,
		"fields": {},
		"withheld": {f: "request_denied" | some f in requested(inp, cat)},
		"obligations": [],
	}
} else := d if {
	ctx := field_context(inp, cat)
	outcomes := {f: field_outcome(ctx, f) | some f in requested(inp, cat)}
	fields := {f: o.release | some f, o in outcomes; o.release}
	withheld := {f: o.withheld | some f, o in outcomes; o.withheld}
	d := {
		"allow": count(fields) > 0,
		"source": inp.request.source,
		"reasons": nothing_released(fields),
		"fields": fields,
		"withheld": withheld,
		"obligations": obligations(inp, cat, fields),
	}
}

nothing_released(fields) := [] if count(fields) > 0

else := ["no_field_released"]

# ---------------------------------------------------------------------------------------------
# Request-level checks (DOMAIN rules 2, 3, 6). The reasons come back in this order, so the first
# one is the most fundamental.
#
# NOTE: two rules keep this portable between OPA and rego-cpp (docs/adr/0009-portable-rego.md):
# - helpers are "true or undefined" (never `else := false`): rego-cpp turns a function's
#   `false` into undefined, OPA does not;
# - a negation only ever calls a helper with whole documents (`not helper(inp, cat)`), never
#   `not x in <ref>` or `not obj[<ref>]`: OPA evaluates such a negation as *undefined* when the
#   reference is (it moves the reference out of the `not`), so a missing member would let the
#   request through; rego-cpp evaluates it as true.

checks := [
	"requester_unverified",
	"case_not_found",
	"case_closed",
	"purpose_unknown",
	"not_a_participant",
	"org_type_not_in_purpose",
	"subject_not_in_case",
	"minor_out_of_scope",
	"source_unknown",
	"source_not_in_purpose",
]

request_denials(inp, cat) := [reason |
	some reason in checks
	denied(reason, inp, cat)
	relevant(reason, inp)
]

# Explain the fundamental failure, not its consequences: without a case, nothing about the
# case is reported; without a linked subject, nothing about the subject's age.
relevant(reason, _) if reason in {"requester_unverified", "case_not_found"}

relevant(reason, inp) if {
	inp.case.found == true
	reason != "minor_out_of_scope"
}

relevant("minor_out_of_scope", inp) if {
	inp.case.found == true
	inp.subject.linked == true
}

# The requester's org, org type and role come from the verified token (rule 2); the role must
# belong to the organisation type.
denied("requester_unverified", inp, cat) if not requester_verified(inp, cat)

requester_verified(inp, cat) if {
	inp.requester.verified == true
	is_string(inp.requester.oin)
	inp.requester.org_type in cat.roles[inp.requester.role].org_types
}

denied("case_not_found", inp, _) if not case_found(inp)

case_found(inp) if inp.case.found == true

denied("case_closed", inp, _) if not case_open(inp)

case_open(inp) if {
	inp.case.status == "open"
	inp.case.stage != "afgesloten"
}

denied("purpose_unknown", inp, cat) if not purpose_known(inp, cat)

purpose_known(inp, cat) if is_object(cat.purposes[inp.case.purpose])

denied("not_a_participant", inp, _) if not participant(inp)

participant(inp) if {
	some oin in inp.case.participants
	oin == inp.requester.oin
}

denied("org_type_not_in_purpose", inp, cat) if not org_type_in_purpose(inp, cat)

org_type_in_purpose(inp, cat) if {
	some org_type in cat.purposes[inp.case.purpose].participants
	org_type == inp.requester.org_type
}

denied("subject_not_in_case", inp, _) if not subject_linked(inp)

subject_linked(inp) if inp.subject.linked == true

# Children of a case subject only in purposes whose scope includes children (rule 6).
denied("minor_out_of_scope", inp, cat) if not minor_in_scope(inp, cat)

minor_in_scope(inp, _) if inp.subject.minor == false

minor_in_scope(inp, cat) if {
	inp.subject.minor == true
	cat.purposes[inp.case.purpose].scope_includes_children == true
}

denied("source_unknown", inp, cat) if not source_known(inp, cat)

source_known(inp, cat) if is_object(cat.sources[inp.request.source])

denied("source_not_in_purpose", inp, cat) if not source_in_purpose(inp, cat)

source_in_purpose(inp, cat) if {
	some source in cat.purposes[inp.case.purpose].sources
	source == inp.request.source
}

# ---------------------------------------------------------------------------------------------
# Fields (rule 4): requested ∩ necessary(purpose, role, stage) ∩ offered by the source.

# No explicit field list means "everything the source offers", so every withheld field is
# explained too.
requested(inp, cat) := {f | some f in inp.request.fields} if {
	is_array(inp.request.fields)
	count(inp.request.fields) > 0
} else := {f | cat.sources[inp.request.source].fields[f]}

# Everything a field's outcome depends on, looked up once per request rather than per field
# (measured on the embedded engine: 4.5 ms -> 2.1 ms for a 6-field source; docs/adr/0002).
field_context(inp, cat) := {
	"offered": object.get(cat.sources, [inp.request.source, "fields"], {}),
	"necessary": object.get(
		cat.necessity,
		[inp.case.purpose, inp.case.stage, inp.requester.role, inp.request.source],
		{},
	),
	"bases": {s: id |
		some s in ["gewoon", "bijzonder", "strafrechtelijk"]
		id := basis_for(inp, cat, s)
	},
	"break_glass": object.get(cat.purposes, [inp.case.purpose, "break_glass", inp.request.source], {}),
	"flags": request_flags(inp, cat),
}

# Flags are strings in a set, not booleans: see the NOTE on the request-level checks.
request_flags(inp, cat) := {flag |
	some flag in ["consent_missing", "urgent", "justified"]
	flagged(flag, inp, cat)
}

# Medical secrecy (rule 5): a consent source's special-category fields need the subject's
# recorded consent for that source.
flagged("consent_missing", inp, cat) if {
	cat.sources[inp.request.source].requires_consent == true
	not consented(inp)
}

consented(inp) if {
	some source in inp.subject.consents
	source == inp.request.source
}

flagged("urgent", inp, _) if inp.request.urgency == "spoed"

flagged("justified", inp, _) if inp.request.justified == true

# The first basis of the purpose that covers this source and sensitivity; criminal-law data
# additionally needs a Wpg or Wjsg basis (rule 5).
basis_for(inp, cat, sensitivity) := ids[0] if {
	ids := [b.id |
		some b in cat.purposes[inp.case.purpose].bases
		inp.request.source in b.sources
		sensitivity in b.covers
		criminal_law_ok(sensitivity, b.law)
	]
	count(ids) > 0
}

criminal_law_ok("strafrechtelijk", law) if law in {"wpg", "wjsg"}

criminal_law_ok(s, _) if s != "strafrechtelijk"

field_outcome(ctx, f) := {"withheld": "not_offered"} if {
	not offered(ctx, f)
} else := {"withheld": "geheim"} if {
	# `geheim` never leaves, whatever the matrix says (rule 4).
	ctx.offered[f].sensitivity == "geheim"
} else := {"withheld": "geheim"} if {
	# A sensitivity outside the known list is treated as `geheim`: unknown means never.
	not known_sensitivity(ctx, f)
} else := {"withheld": no_basis_reason(ctx.offered[f].sensitivity)} if {
	not has_basis(ctx, f)
} else := {"withheld": "not_necessary"} if {
	# Necessity first: what the role's row at this stage does not list never leaves, urgent
	# or not (rule 4).
	not necessary(ctx, f)
} else := {"release": {
	# Break-glass (rule 7) lifts only the consent requirement, only for the purpose's narrow
	# set, in its (narrower) form: urgent, with a written justification, flagged for review.
	"transform": ctx.break_glass[f],
	"basis": ctx.bases[ctx.offered[f].sensitivity],
	"break_glass": true,
}} if {
	needs_consent(ctx, f)
	"urgent" in ctx.flags
	"justified" in ctx.flags
	ctx.break_glass[f]
} else := {"withheld": "justification_required"} if {
	needs_consent(ctx, f)
	"urgent" in ctx.flags
	ctx.break_glass[f]
} else := {"withheld": "consent_required"} if {
	needs_consent(ctx, f)
} else := {"release": {
	"transform": ctx.necessary[f],
	"basis": ctx.bases[ctx.offered[f].sensitivity],
	"break_glass": false,
}}

offered(ctx, f) if is_object(ctx.offered[f])

known_sensitivity(ctx, f) if ctx.offered[f].sensitivity in {"gewoon", "bijzonder", "strafrechtelijk"}

has_basis(ctx, f) if is_string(ctx.bases[ctx.offered[f].sensitivity])

necessary(ctx, f) if is_string(ctx.necessary[f])

no_basis_reason("bijzonder") := "no_special_category_basis"

no_basis_reason("strafrechtelijk") := "no_criminal_data_basis"

no_basis_reason("gewoon") := "no_legal_basis"

needs_consent(ctx, f) if {
	"consent_missing" in ctx.flags
	ctx.offered[f].sensitivity == "bijzonder"
}

# ---------------------------------------------------------------------------------------------
# Obligations: a break-glass release is flagged for review by a privacy officer (rule 7).

obligations(inp, cat, fields) := [{
	"type": "review",
	"by": "privacy_officer",
	"reason": "break_glass",
	"urgency_horizon": cat.org_types[inp.requester.org_type].urgency_horizon,
}] if {
	some _, r in fields
	r.break_glass == true
} else := []

# ---------------------------------------------------------------------------------------------
# Explanation: the rule path behind a decision, for `gateway policy explain` and the dry run.
# It reuses the rules above (nothing here decides): each request-level check with its result,
# and per field each step of `field_outcome` in order. The decision is still `decision`.

explanation := explain(input, data.catalog)

explain(inp, cat) := {
	"request_checks": [{"check": reason, "result": check_result(reason, inp, cat)} |
		some reason in checks
	],
	"fields": {f: field_steps(field_context(inp, cat), f) | some f in requested(inp, cat)},
}

check_result(reason, inp, cat) := "failed" if {
	denied(reason, inp, cat)
	relevant(reason, inp)
} else := "passed"

# NOTE: written out, not as a comprehension over the step names: rego-cpp 1.5.2 evaluates a
# comprehension nested in a function called from another comprehension with the first
# caller's variables (every field got the first field's steps). Pinned by the unit tests.
field_steps(ctx, f) := [
	{"step": "offered", "result": step_result("offered", ctx, f)},
	{"step": "sensitivity", "result": step_result("sensitivity", ctx, f)},
	{"step": "legal_basis", "result": step_result("legal_basis", ctx, f)},
	{"step": "necessity", "result": step_result("necessity", ctx, f)},
	{"step": "consent", "result": step_result("consent", ctx, f)},
	{"step": "break_glass", "result": step_result("break_glass", ctx, f)},
]

step_result("offered", ctx, f) := "offered by the source" if offered(ctx, f)

else := "not offered by the source"

step_result("sensitivity", ctx, f) := ctx.offered[f].sensitivity if known_sensitivity(ctx, f)

else := "geheim or unknown: never released"

step_result("legal_basis", ctx, f) := ctx.bases[ctx.offered[f].sensitivity] if has_basis(ctx, f)

else := "no basis of the purpose covers it"

step_result("necessity", ctx, f) := sprintf("in the role's row at this stage: %s", [ctx.necessary[f]]) if {
	necessary(ctx, f)
} else := "not in the role's row at this stage"

step_result("consent", ctx, f) := "consent needed and not recorded" if needs_consent(ctx, f)

else := "no consent needed, or recorded"

step_result("break_glass", ctx, f) := sprintf("in the purpose's break-glass set: %s", [ctx.break_glass[f]]) if {
	ctx.break_glass[f]
} else := "not in the break-glass set"

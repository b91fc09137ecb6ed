//! Policy compiler: JSON text to [`Policy`], or every [`Problem`] found.
//!
//! The text is parsed twice on purpose. `jsonc-parser` (comments, trailing
//! commas and unquoted keys all switched off) gives an AST with byte ranges,
//! which is how each problem gets a line and column. That parser still
//! tolerates a few non-JSON forms (single-quoted strings, a missing comma
//! between object members), so `serde_json` then checks the same text as the
//! strict gate: a policy that loads here is one every JSON tool reads the same
//! way. Duplicate keys, which JSON parsers resolve differently, are problems.
//!
//! After that the AST is walked once; every check records a problem and walks
//! on, so the user sees all problems in one run.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jsonc_parser::ast::{Object, ObjectProp, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::{CollectOptions, ParseOptions};

use crate::ScopeKind;
use crate::approval::{ApprovalMode, ApprovalSettings, Approver, Webhook, WebhookFormat};
use crate::audit::ArgumentCapture;
use crate::definitions::{LINT_KINDS, LintAction, LintSettings, Pinning};
use crate::glob::{Glob, GlobSet};
use crate::model::{Action, Condition, Limit, Op, Path, Policy, Root, Rule};
use crate::problems::{Problem, Problems};
use crate::text::{LineIndex, edit_distance, json_too_deep};

/// Nesting deeper than this is refused before any parser recurses into it.
const MAX_DEPTH: usize = 100;

const TOP_FIELDS: &[&str] = &[
    "$schema",
    "version",
    "default",
    "hide",
    "all_tools",
    "tools",
    "audit",
    "approval",
    "pinning",
    "lint",
];
const ALL_TOOLS_FIELDS: &[&str] = &["limits"];
const RULE_FIELDS: &[&str] = &[
    "action",
    "reason",
    "require",
    "deny_if",
    "approve_if",
    "arguments",
    "limits",
    "audit",
    "approval",
];
const AUDIT_FIELDS: &[&str] = &["arguments", "redact"];
const CAPTURE_MODES: &[&str] = &["keys", "hashed", "full"];
const APPROVAL_FIELDS: &[&str] = &["approvers", "timeout", "valid_for", "mode", "webhook"];
const WEBHOOK_FIELDS: &[&str] = &["url", "format"];
const APPROVAL_MODES: &[&str] = &["hold", "async"];
const WEBHOOK_FORMATS: &[&str] = &["json", "slack"];
const PINNING_MODES: &[&str] = &["off", "warn", "enforce"];
const LINT_ACTIONS: &[&str] = &["off", "warn", "hide"];
/// Policy-wide settings, for a hint when one is written inside a block.
const POLICY_WIDE: &[&str] = &["pinning", "lint"];
/// `timeout` is more than 0 and at most 7 days.
const MAX_TIMEOUT_MS: u64 = 7 * 86_400_000;
/// `valid_for` is 0 to 30 days.
const MAX_VALID_FOR_MS: u64 = 30 * 86_400_000;
const CONDITION_FIELDS: &[&str] = &["path", "op", "value", "reason"];
const LIMIT_FIELDS: &[&str] = &["counter", "window", "max", "scope", "increment_from"];
const OPS: &[&str] = &[
    "eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains", "exists",
];
const WINDOW_MSG: &str =
    r#"window must be "second", "minute", "hour", "day" or a positive number of seconds"#;

impl Policy {
    /// Parse and compile. `source` is the file name used in messages.
    ///
    /// # Errors
    ///
    /// [`Problems`] lists every problem in the file (syntax errors stop at the
    /// first), each with a JSON Pointer, line and column.
    pub fn from_json(source: &str, text: &str) -> Result<Policy, Problems> {
        let mut c = Compiler {
            source,
            text,
            index: LineIndex::new(text),
            problems: Vec::new(),
            counters: Vec::new(),
        };
        let policy = c.document();
        c.check_counters();
        let mut problems = c.problems;
        match policy {
            Some(policy) if problems.is_empty() => Ok(policy),
            _ => {
                if problems.is_empty() {
                    // Defensive: a failed compile always explains itself.
                    problems.push(Problem {
                        source: source.to_owned(),
                        pointer: String::new(),
                        line: 1,
                        column: 1,
                        message: "the policy could not be compiled".to_owned(),
                    });
                }
                problems.sort_by_key(|p| (p.line, p.column));
                Err(Problems(problems))
            }
        }
    }
}

/// One use of a counter name, to check that all uses agree.
struct CounterUse {
    name: String,
    limit: String,
    scope: ScopeKind,
    increment_from: Option<String>,
    /// Where `scope` and `increment_from` are written, if they are.
    scope_at: Option<usize>,
    increment_at: Option<usize>,
    /// Where the limit object starts.
    start: usize,
}

struct Compiler<'t> {
    source: &'t str,
    text: &'t str,
    index: LineIndex<'t>,
    problems: Vec<Problem>,
    counters: Vec<CounterUse>,
}

/// The members of one object, after unknown and duplicate fields were reported.
struct Fields<'b, 'a> {
    props: Vec<&'b ObjectProp<'a>>,
    start: usize,
}

impl<'b, 'a> Fields<'b, 'a> {
    fn get(&self, name: &str) -> Option<&'b Value<'a>> {
        self.props
            .iter()
            .find(|p| p.name.as_str() == name)
            .map(|p| &p.value)
    }
}

impl<'t> Compiler<'t> {
    fn problem(&mut self, pointer: &str, offset: usize, message: impl Into<String>) {
        let (line, column) = self.index.position(offset);
        self.problems.push(Problem {
            source: self.source.to_owned(),
            pointer: pointer.to_owned(),
            line,
            column,
            message: message.into(),
        });
    }

    // ---- syntax -------------------------------------------------------

    fn document(&mut self) -> Option<Policy> {
        if let Some(offset) = json_too_deep(self.text, MAX_DEPTH) {
            self.problem(
                "",
                offset,
                format!("JSON nested more than {MAX_DEPTH} levels deep; a policy never needs that"),
            );
            return None;
        }
        let strict = ParseOptions {
            allow_comments: false,
            allow_loose_object_property_names: false,
            allow_trailing_commas: false,
        };
        let text = self.text;
        let parsed = match jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &strict) {
            Ok(parsed) => parsed,
            Err(err) => {
                self.problem(
                    "",
                    err.range().start,
                    format!("invalid JSON: {}", err.kind()),
                );
                return None;
            }
        };
        let Some(root) = parsed.value else {
            self.problem(
                "",
                0,
                r#"the file is empty; a policy is a JSON object such as {"version": "1", "default": "deny", "tools": {}}"#,
            );
            return None;
        };
        if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
            let offset = self.index.offset_of(err.line(), err.column());
            let message = err.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) => &message[..i],
                None => &message,
            };
            self.problem("", offset, format!("invalid JSON: {message}"));
            return None;
        }
        self.policy(&root)
    }

    // ---- shared helpers -----------------------------------------------

    /// Reports unknown and duplicate members of `obj`.
    fn fields<'b, 'a>(
        &mut self,
        obj: &'b Object<'a>,
        pointer: &str,
        allowed: &[&str],
    ) -> Fields<'b, 'a> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut props = Vec::with_capacity(obj.properties.len());
        for prop in &obj.properties {
            let name = prop.name.as_str();
            let here = child(pointer, name);
            if !allowed.contains(&name) {
                let hint = if allowed.contains(&"approval") && APPROVAL_FIELDS.contains(&name) {
                    format!(
                        r#"; it belongs in the approval block: "approval": {{{}: ...}}"#,
                        quote(name)
                    )
                } else if POLICY_WIDE.contains(&name) {
                    format!(
                        "; {} applies to the whole policy: write it at the top level",
                        quote(name)
                    )
                } else {
                    match suggest(name, allowed) {
                        Some(s) => format!("; did you mean \"{s}\"?"),
                        None => String::new(),
                    }
                };
                let list = allowed.join(", ");
                self.problem(
                    &here,
                    prop.name.start(),
                    format!("unknown field {}{hint} (allowed: {list})", quote(name)),
                );
            } else if !seen.insert(name) {
                self.problem(
                    &here,
                    prop.name.start(),
                    format!("duplicate field {}; give each field once", quote(name)),
                );
            } else {
                props.push(prop);
            }
        }
        Fields {
            props,
            start: obj.range.start,
        }
    }

    fn missing(&mut self, fields: &Fields<'_, '_>, pointer: &str, name: &str, example: &str) {
        self.problem(
            &child(pointer, name),
            fields.start,
            format!("missing required field \"{name}\"; add it, e.g. {example}"),
        );
    }

    fn object<'b, 'a>(
        &mut self,
        v: &'b Value<'a>,
        pointer: &str,
        what: &str,
    ) -> Option<&'b Object<'a>> {
        match v {
            Value::Object(o) => Some(o),
            other => {
                self.problem(
                    pointer,
                    other.start(),
                    format!("{what} must be an object, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn array<'b, 'a>(
        &mut self,
        v: &'b Value<'a>,
        pointer: &str,
        what: &str,
    ) -> Option<&'b [Value<'a>]> {
        match v {
            Value::Array(a) => Some(&a.elements),
            other => {
                self.problem(
                    pointer,
                    other.start(),
                    format!("{what} must be an array, not {}", kind(other)),
                );
                None
            }
        }
    }

    fn string<'b>(&mut self, v: &'b Value<'_>, pointer: &str, what: &str) -> Option<&'b str> {
        match v {
            Value::StringLit(s) => Some(s.value.as_ref()),
            other => {
                self.problem(
                    pointer,
                    other.start(),
                    format!("{what} must be a string, not {}", kind(other)),
                );
                None
            }
        }
    }

    /// The serde_json value of an AST node (the text already passed the
    /// strict gate, so this only fails on numbers serde_json cannot hold).
    fn json(&mut self, v: &Value<'_>, pointer: &str) -> Option<serde_json::Value> {
        // serde_json keeps the last of two equal keys and other tools may keep
        // the first: refuse the ambiguity inside schemas and values too.
        if !self.no_duplicates(v, pointer) {
            return None;
        }
        let range = v.range();
        let parsed = self
            .text
            .get(range.start..range.end)
            .map(serde_json::from_str::<serde_json::Value>);
        match parsed {
            Some(Ok(value)) => Some(value),
            Some(Err(err)) => {
                self.problem(pointer, range.start, format!("unreadable value: {err}"));
                None
            }
            None => {
                self.problem(pointer, range.start, "unreadable value");
                None
            }
        }
    }

    /// Reports every duplicate key below `v`; true when there are none.
    fn no_duplicates(&mut self, v: &Value<'_>, pointer: &str) -> bool {
        match v {
            Value::Object(o) => {
                let mut seen = HashSet::new();
                let mut ok = true;
                for prop in &o.properties {
                    let name = prop.name.as_str();
                    let here = child(pointer, name);
                    if !seen.insert(name) {
                        self.problem(
                            &here,
                            prop.name.start(),
                            format!("duplicate key {}; give each key once", quote(name)),
                        );
                        ok = false;
                    }
                    ok &= self.no_duplicates(&prop.value, &here);
                }
                ok
            }
            Value::Array(a) => {
                let mut ok = true;
                for (i, item) in a.elements.iter().enumerate() {
                    ok &= self.no_duplicates(item, &format!("{pointer}/{i}"));
                }
                ok
            }
            _ => true,
        }
    }

    // ---- the document ---------------------------------------------------

    fn policy(&mut self, root: &Value<'_>) -> Option<Policy> {
        let Value::Object(obj) = root else {
            self.problem(
                "",
                root.start(),
                format!(
                    r#"a policy must be a JSON object such as {{"version": "1", "default": "deny", "tools": {{}}}}, not {}"#,
                    kind(root)
                ),
            );
            return None;
        };
        let f = self.fields(obj, "", TOP_FIELDS);
        let mut ok = true;

        if let Some(v) = f.get("$schema") {
            ok &= self.string(v, "/$schema", "$schema").is_some();
        }

        match f.get("version") {
            Some(Value::StringLit(s)) if s.value == "1" => {}
            Some(other) => {
                self.problem(
                    "/version",
                    other.start(),
                    format!(
                        r#"unsupported version {}; this Warden reads version "1" (write "version": "1")"#,
                        self.source_text(other)
                    ),
                );
                ok = false;
            }
            None => {
                self.missing(&f, "", "version", r#""version": "1""#);
                ok = false;
            }
        }

        let default = match f.get("default") {
            Some(v) => self.action(v, "/default", "default"),
            None => {
                self.missing(
                    &f,
                    "",
                    "default",
                    r#""default": "deny" (or "allow", "approve")"#,
                );
                None
            }
        };

        let mut hide_exact = HashSet::new();
        let mut hide_globs = Vec::new();
        if let Some(v) = f.get("hide") {
            match self.array(v, "/hide", "hide") {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let here = format!("/hide/{i}");
                        match self.string(item, &here, "each hide entry") {
                            Some("") => {
                                self.problem(&here, item.start(), "hide entries must not be empty; write a tool name or a glob such as \"admin.*\"");
                                ok = false;
                            }
                            Some(name) if Glob::is_pattern(name) => {
                                hide_globs.push((Glob::new(name), 0))
                            }
                            Some(name) => {
                                hide_exact.insert(name.to_owned());
                            }
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }

        let mut all_tools_limits = Vec::new();
        if let Some(v) = f.get("all_tools") {
            match self.object(v, "/all_tools", "all_tools") {
                Some(o) => {
                    let af = self.fields(o, "/all_tools", ALL_TOOLS_FIELDS);
                    if let Some(lv) = af.get("limits") {
                        match self.limits(lv, "/all_tools/limits") {
                            Some(l) => all_tools_limits = l,
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }

        let mut audit = Audit::default();
        if let Some(v) = f.get("audit") {
            match self.audit(v, "/audit") {
                Some(a) => audit = a,
                None => ok = false,
            }
        }

        let defaults = ApprovalSettings::default();
        let approval = match f.get("approval") {
            Some(v) => match self.approval(v, "/approval", &defaults) {
                Some(a) => Arc::new(a),
                None => {
                    ok = false;
                    Arc::new(defaults)
                }
            },
            None => Arc::new(defaults),
        };

        let mut pinning = Pinning::default();
        if let Some(v) = f.get("pinning") {
            match self.pinning(v, "/pinning") {
                Some(p) => pinning = p,
                None => ok = false,
            }
        }

        let mut lint = LintSettings::default();
        if let Some(v) = f.get("lint") {
            match self.lint(v, "/lint") {
                Some(l) => lint = l,
                None => ok = false,
            }
        }

        let mut rules: Vec<Rule> = Vec::new();
        let mut exact = HashMap::new();
        let mut globs = Vec::new();
        if let Some(v) = f.get("tools") {
            match self.object(v, "/tools", "tools") {
                Some(o) => {
                    let mut seen = HashSet::new();
                    for prop in &o.properties {
                        let name = prop.name.as_str();
                        let here = child("/tools", name);
                        if name.is_empty() {
                            self.problem(&here, prop.name.start(), "a tool name must not be empty");
                            ok = false;
                            continue;
                        }
                        if !seen.insert(name) {
                            self.problem(
                                &here,
                                prop.name.start(),
                                format!(
                                    "tool {} appears twice; merge the two rules into one",
                                    quote(name)
                                ),
                            );
                            ok = false;
                            continue;
                        }
                        let Some(rule) = self.rule(&prop.value, here, &approval) else {
                            ok = false;
                            continue;
                        };
                        let at = rules.len();
                        rules.push(rule);
                        if Glob::is_pattern(name) {
                            globs.push((Glob::new(name), at));
                        } else {
                            exact.insert(name.to_owned(), at);
                        }
                    }
                }
                None => ok = false,
            }
        }
        let default = default?;
        // Redact lists add up: a rule's names come after the policy's.
        for rule in &mut rules {
            let own = std::mem::take(&mut rule.audit_redact);
            rule.audit_redact = audit.redact.clone();
            for name in own {
                if !rule.audit_redact.contains(&name) {
                    rule.audit_redact.push(name);
                }
            }
        }
        ok.then_some(Policy {
            default,
            hide_exact,
            hide_globs: GlobSet::new(hide_globs),
            all_tools_limits,
            exact,
            globs: GlobSet::new(globs),
            rules,
            audit_arguments: audit.arguments.unwrap_or_default(),
            audit_redact: audit.redact,
            approval,
            pinning,
            lint,
        })
    }

    fn source_text(&self, v: &Value<'_>) -> String {
        let range = v.range();
        let raw = self.text.get(range.start..range.end).unwrap_or("");
        let flat = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        crate::condition::truncate(&flat, 40)
    }

    fn action(&mut self, v: &Value<'_>, pointer: &str, what: &str) -> Option<Action> {
        let action = match v {
            Value::StringLit(s) => match s.value.as_ref() {
                "allow" => Some(Action::Allow),
                "deny" => Some(Action::Deny),
                "approve" => Some(Action::Approve),
                _ => None,
            },
            _ => None,
        };
        if action.is_none() {
            self.problem(
                pointer,
                v.start(),
                format!(
                    r#"{what} must be "allow", "deny" or "approve", not {}"#,
                    self.source_text(v)
                ),
            );
        }
        action
    }

    // ---- tool definitions: pinning and lint -------------------------------

    /// `"pinning": "off" | "warn" | "enforce"`.
    fn pinning(&mut self, v: &Value<'_>, pointer: &str) -> Option<Pinning> {
        if let Value::StringLit(s) = v
            && let Some(p) = Pinning::parse(&s.value)
        {
            return Some(p);
        }
        let hint = match v {
            Value::StringLit(s) => {
                pinning_alias(&s.value).or_else(|| suggest(&s.value, PINNING_MODES))
            }
            Value::BooleanLit(b) if b.value => Some("enforce"),
            Value::BooleanLit(_) => Some("off"),
            _ => None,
        }
        .map(|m| format!(r#"; did you mean "{m}"?"#))
        .unwrap_or_default();
        self.problem(
            pointer,
            v.start(),
            format!(
                r#"pinning must be "off", "warn" (the default: new and changed tools are reported) or "enforce" (they are withheld until approved), not {}{hint}"#,
                self.source_text(v)
            ),
        );
        None
    }

    /// `"lint": "off" | "warn" | "hide"`, or an object of actions by finding kind with an
    /// optional `"default"` for the kinds it does not name.
    fn lint(&mut self, v: &Value<'_>, pointer: &str) -> Option<LintSettings> {
        let obj = match v {
            Value::Object(o) => o,
            Value::StringLit(s) if LintAction::parse(&s.value).is_some() => {
                return LintAction::parse(&s.value).map(LintSettings::all);
            }
            other => {
                let hint = match other {
                    Value::StringLit(s) => lint_alias(&s.value)
                        .or_else(|| suggest(&s.value, LINT_ACTIONS))
                        .map(|m| format!(r#"; did you mean "{m}"?"#))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                self.problem(
                    pointer,
                    other.start(),
                    format!(
                        r#"lint must be "off", "warn" or "hide" (for every kind of finding), or an object of those by kind such as {{"default": "warn", "secret_file": "hide"}}, not {}{hint}"#,
                        self.source_text(other)
                    ),
                );
                return None;
            }
        };
        let mut allowed: Vec<&str> = vec!["default"];
        allowed.extend(LINT_KINDS.iter().map(|(k, _)| *k));
        let mut ok = true;
        let mut seen: HashSet<&str> = HashSet::new();
        let mut default = None;
        let mut named: Vec<(usize, LintAction)> = Vec::new();
        for prop in &obj.properties {
            let name = prop.name.as_str();
            let here = child(pointer, name);
            if !allowed.contains(&name) {
                let hint = lint_kind_alias(name)
                    .or_else(|| suggest(name, &allowed))
                    .map(|k| format!(r#"; did you mean "{k}"?"#))
                    .unwrap_or_default();
                self.problem(
                    &here,
                    prop.name.start(),
                    format!(
                        "unknown finding kind {}{hint} (allowed: {})",
                        quote(name),
                        allowed.join(", ")
                    ),
                );
                ok = false;
                continue;
            }
            if !seen.insert(name) {
                self.problem(
                    &here,
                    prop.name.start(),
                    format!("duplicate field {}; give each field once", quote(name)),
                );
                ok = false;
                continue;
            }
            let action = match &prop.value {
                Value::StringLit(s) => LintAction::parse(&s.value),
                _ => None,
            };
            let Some(action) = action else {
                let hint = match &prop.value {
                    Value::StringLit(s) => lint_alias(&s.value)
                        .or_else(|| suggest(&s.value, LINT_ACTIONS))
                        .map(|m| format!(r#"; did you mean "{m}"?"#))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                self.problem(
                    &here,
                    prop.value.start(),
                    format!(
                        r#"{name} must be "off", "warn" (report the finding) or "hide" (report it and hide the tool), not {}{hint}"#,
                        self.source_text(&prop.value)
                    ),
                );
                ok = false;
                continue;
            };
            match LINT_KINDS.iter().position(|(k, _)| *k == name) {
                Some(i) => named.push((i, action)),
                None => default = Some(action),
            }
        }
        if !ok {
            return None;
        }
        let mut settings = match default {
            Some(action) => LintSettings::all(action),
            None => LintSettings::default(),
        };
        for (i, action) in named {
            if let Some(slot) = settings.actions.get_mut(i) {
                *slot = action;
            }
        }
        Some(settings)
    }

    // ---- tool rules -----------------------------------------------------

    /// One `tools.<name>` rule; `top` is the top-level approval settings its own `approval`
    /// block is merged over (and shared as is when it has none).
    fn rule(
        &mut self,
        v: &Value<'_>,
        pointer: String,
        top: &Arc<ApprovalSettings>,
    ) -> Option<Rule> {
        let obj = self.object(
            v,
            &pointer,
            r#"a tool rule (e.g. {"action": "deny", "reason": "..."})"#,
        )?;
        let f = self.fields(obj, &pointer, RULE_FIELDS);
        let mut ok = true;

        let mut action = Action::Allow;
        if let Some(v) = f.get("action") {
            match self.action(v, &format!("{pointer}/action"), "action") {
                Some(a) => action = a,
                None => ok = false,
            }
        }
        let mut reason = None;
        if let Some(v) = f.get("reason") {
            match self.string(v, &format!("{pointer}/reason"), "reason") {
                Some(r) => reason = Some(r.to_owned()),
                None => ok = false,
            }
        }
        let mut lists: [Vec<Condition>; 3] = Default::default();
        for (slot, name) in lists.iter_mut().zip(["require", "deny_if", "approve_if"]) {
            if let Some(v) = f.get(name) {
                match self.conditions(v, &format!("{pointer}/{name}"), name) {
                    Some(c) => *slot = c,
                    None => ok = false,
                }
            }
        }
        let [require, deny_if, approve_if] = lists;
        let mut arguments = None;
        if let Some(v) = f.get("arguments") {
            match self.schema(v, &format!("{pointer}/arguments")) {
                Some(s) => arguments = Some(s),
                None => ok = false,
            }
        }
        let mut limits = Vec::new();
        if let Some(v) = f.get("limits") {
            match self.limits(v, &format!("{pointer}/limits")) {
                Some(l) => limits = l,
                None => ok = false,
            }
        }
        let mut audit = Audit::default();
        if let Some(v) = f.get("audit") {
            match self.audit(v, &format!("{pointer}/audit")) {
                Some(a) => audit = a,
                None => ok = false,
            }
        }
        // An approval block on a rule that never asks for approval is allowed: a policy
        // may be edited gradually, and the block is checked all the same.
        let mut approval = Arc::clone(top);
        if let Some(v) = f.get("approval") {
            match self.approval(v, &format!("{pointer}/approval"), top) {
                Some(a) => approval = Arc::new(a),
                None => ok = false,
            }
        }
        ok.then_some(Rule {
            pointer,
            action,
            reason,
            require,
            deny_if,
            approve_if,
            arguments,
            limits,
            audit_arguments: audit.arguments,
            // Only the rule's own names here; `policy` prepends the top level's.
            audit_redact: audit.redact,
            approval,
        })
    }

    fn schema(&mut self, v: &Value<'_>, pointer: &str) -> Option<jsonschema::Validator> {
        // `"arguments": "full"` in a rule is an audit setting in the wrong place.
        if let Value::StringLit(s) = v
            && CAPTURE_MODES.contains(&s.value.as_ref())
        {
            self.problem(
                pointer,
                v.start(),
                format!(
                    r#"arguments is a JSON Schema for the call's arguments, not an audit setting; to choose what the audit log records, write "audit": {{"arguments": "{}"}}"#,
                    s.value
                ),
            );
            return None;
        }
        let obj = self.object(
            v,
            pointer,
            r#"arguments (a JSON Schema such as {"type": "object", "required": ["id"]})"#,
        )?;
        let schema = self.json(v, pointer)?;
        match jsonschema::options()
            .with_retriever(NoRemote)
            // Linear-time matching for `pattern`: arguments come from agents.
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&schema)
        {
            Ok(validator) => Some(validator),
            Err(err) => {
                // `build` stops at the first error; to report every problem,
                // run the draft's meta-schema over the schema ourselves. Its
                // errors point into the schema, so each gets its own position.
                let meta: Vec<(String, String)> = meta_validator(&schema)
                    .map(|m| {
                        m.iter_errors(&schema)
                            .map(|e| (e.instance_path.as_str().to_owned(), e.to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                // `build` may have stopped at something the meta-schema does
                // not see (a remote `$ref`, an unknown draft): keep it too.
                let mut errors = meta;
                let first = (err.instance_path.as_str().to_owned(), err.to_string());
                if !errors.contains(&first) {
                    errors.insert(0, first);
                }
                for (inner, mut message) in errors {
                    if inner.ends_with("/type") {
                        message.push_str(r#" (types: "array", "boolean", "integer", "null", "number", "object", "string")"#);
                    }
                    let at = find(v, &inner).map_or(obj.range.start, Ranged::start);
                    self.problem(
                        &format!("{pointer}{inner}"),
                        at,
                        format!(
                            "invalid JSON Schema: {}",
                            crate::condition::truncate(&message, 300)
                        ),
                    );
                }
                None
            }
        }
    }

    // ---- audit ----------------------------------------------------------

    /// `{"arguments": "keys" | "hashed" | "full", "redact": [names]}`, at the
    /// top level or in a rule.
    fn audit(&mut self, v: &Value<'_>, pointer: &str) -> Option<Audit> {
        if let Value::StringLit(s) = v
            && let Some(mode) = capture_mode(&s.value)
        {
            self.problem(
                pointer,
                v.start(),
                format!(
                    r#"audit must be an object, not a string; write "audit": {{"arguments": "{}"}}"#,
                    mode.as_str()
                ),
            );
            return None;
        }
        let obj = self.object(
            v,
            pointer,
            r#"audit (e.g. {"arguments": "hashed", "redact": ["ssn"]})"#,
        )?;
        let f = self.fields(obj, pointer, AUDIT_FIELDS);
        let mut ok = true;
        let mut audit = Audit::default();

        if let Some(av) = f.get("arguments") {
            let here = format!("{pointer}/arguments");
            let mode = match av {
                Value::StringLit(s) => capture_mode(&s.value),
                _ => None,
            };
            match mode {
                Some(mode) => audit.arguments = Some(mode),
                None => {
                    let hint = match av {
                        Value::StringLit(s) => capture_alias(&s.value)
                            .or_else(|| suggest(&s.value, CAPTURE_MODES))
                            .map(|m| format!(r#"; did you mean "{m}"?"#))
                            .unwrap_or_default(),
                        _ => String::new(),
                    };
                    self.problem(
                        &here,
                        av.start(),
                        format!(
                            r#"audit arguments must be "keys" (the default: argument names only), "hashed" (salted hashes of the values) or "full" (values with secrets redacted), not {}{hint}"#,
                            self.source_text(av)
                        ),
                    );
                    ok = false;
                }
            }
        }

        if let Some(rv) = f.get("redact") {
            let here = format!("{pointer}/redact");
            match self.array(
                rv,
                &here,
                r#"redact (a list of field names such as ["ssn", "card_number"])"#,
            ) {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let at = format!("{here}/{i}");
                        match self.string(item, &at, "each redact entry") {
                            Some(name) if name.chars().any(char::is_alphanumeric) => {
                                if !audit.redact.iter().any(|n| n == name) {
                                    audit.redact.push(name.to_owned());
                                }
                            }
                            Some(name) => {
                                self.problem(
                                    &at,
                                    item.start(),
                                    format!(
                                        r#"redact entry {} names no field; write a field name such as "ssn" (matched in any case, in snake_case, camelCase or kebab-case)"#,
                                        quote(name)
                                    ),
                                );
                                ok = false;
                            }
                            None => ok = false,
                        }
                    }
                }
                None => ok = false,
            }
        }
        ok.then_some(audit)
    }

    // ---- approval ---------------------------------------------------------

    /// An `approval` block, merged field by field over `base`: the defaults for the top
    /// level's block, the top level's settings for a rule's.
    fn approval(
        &mut self,
        v: &Value<'_>,
        pointer: &str,
        base: &ApprovalSettings,
    ) -> Option<ApprovalSettings> {
        if let Value::Array(_) = v {
            self.problem(
                pointer,
                v.start(),
                r#"approval must be an object, not an array; to say who may approve, write "approval": {"approvers": ["operator"]}"#,
            );
            return None;
        }
        let obj = self.object(
            v,
            pointer,
            r#"approval (e.g. {"approvers": ["operator"], "timeout": "10m"})"#,
        )?;
        let f = self.fields(obj, pointer, APPROVAL_FIELDS);
        let mut ok = true;
        let mut settings = base.clone();

        if let Some(av) = f.get("approvers") {
            match self.approvers(av, &format!("{pointer}/approvers")) {
                Some(a) => settings.approvers = a,
                None => ok = false,
            }
        }
        if let Some(tv) = f.get("timeout") {
            match self.duration(tv, &format!("{pointer}/timeout"), &TIMEOUT) {
                Some(ms) => settings.timeout_ms = ms,
                None => ok = false,
            }
        }
        if let Some(vv) = f.get("valid_for") {
            match self.duration(vv, &format!("{pointer}/valid_for"), &VALID_FOR) {
                Some(ms) => settings.valid_for_ms = ms,
                None => ok = false,
            }
        }
        if let Some(mv) = f.get("mode") {
            let mode = match mv {
                Value::StringLit(s) => match s.value.as_ref() {
                    "hold" => Some(ApprovalMode::Hold),
                    "async" => Some(ApprovalMode::Async),
                    _ => None,
                },
                _ => None,
            };
            match mode {
                Some(mode) => settings.mode = mode,
                None => {
                    let hint = match mv {
                        Value::StringLit(s) => mode_alias(&s.value)
                            .or_else(|| suggest(&s.value, APPROVAL_MODES))
                            .map(|m| format!(r#"; did you mean "{m}"?"#))
                            .unwrap_or_default(),
                        _ => String::new(),
                    };
                    self.problem(
                        &format!("{pointer}/mode"),
                        mv.start(),
                        format!(
                            r#"mode must be "hold" (the default: the call waits for the answer) or "async" (the call returns at once and is retried once approved), not {}{hint}"#,
                            self.source_text(mv)
                        ),
                    );
                    ok = false;
                }
            }
        }
        if let Some(wv) = f.get("webhook") {
            match wv {
                // `null` turns off a webhook the top level set.
                Value::NullKeyword(_) => settings.webhook = None,
                _ => match self.webhook(wv, &format!("{pointer}/webhook")) {
                    Some(w) => settings.webhook = Some(w),
                    None => ok = false,
                },
            }
        }

        // Reported where this block writes the mode or the approvers; a block that writes
        // neither inherits a problem already reported at the top level.
        let user_only = settings.approvers.iter().all(|a| *a == Approver::User);
        if ok && settings.mode == ApprovalMode::Async && user_only {
            let at = match (f.get("mode"), f.get("approvers")) {
                (Some(mv), _) => Some(("mode", mv.start())),
                (None, Some(av)) => Some(("approvers", av.start())),
                (None, None) => None,
            };
            if let Some((field, at)) = at {
                self.problem(
                    &format!("{pointer}/{field}"),
                    at,
                    r#"mode "async" with "user" as the only approver cannot work: an async request returns at once, so nobody at the client can answer it; add "operator" or a named approver to approvers, or use mode "hold""#,
                );
                ok = false;
            }
        }
        ok.then_some(settings)
    }

    /// `approvers`: a non-empty list of distinct, well-formed names.
    fn approvers(&mut self, v: &Value<'_>, pointer: &str) -> Option<Vec<Approver>> {
        let items = self.array(
            v,
            pointer,
            r#"approvers (a list such as ["user", "operator"])"#,
        )?;
        if items.is_empty() {
            self.problem(
                pointer,
                v.start(),
                r#"approvers must not be empty, or nobody could approve; list at least one, e.g. ["operator"]"#,
            );
            return None;
        }
        let mut out: Vec<Approver> = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let here = format!("{pointer}/{i}");
            let Some(text) = self.string(item, &here, "each approver") else {
                ok = false;
                continue;
            };
            if let Some(message) = approver_problem(text) {
                self.problem(&here, item.start(), message);
                ok = false;
                continue;
            }
            let approver = Approver::parse(text);
            if out.contains(&approver) {
                self.problem(
                    &here,
                    item.start(),
                    format!(
                        "approver {} appears twice; list each approver once",
                        quote(text)
                    ),
                );
                ok = false;
                continue;
            }
            out.push(approver);
        }
        ok.then_some(out)
    }

    /// `timeout` or `valid_for`, in milliseconds: a whole number of seconds or a duration
    /// string (`humantime` syntax: `"90s"`, `"10m"`, `"1h 30m"`).
    fn duration(&mut self, v: &Value<'_>, pointer: &str, spec: &DurationSpec) -> Option<u64> {
        let DurationSpec { name, example, .. } = *spec;
        let ms = match v {
            Value::NumberLit(n) if n.value.bytes().all(|b| b.is_ascii_digit()) => Ok(n
                .value
                .parse::<u64>()
                .map_or(u64::MAX, |secs| secs.saturating_mul(1000))),
            Value::NumberLit(_) => Err(format!(
                r#"{name} must be a whole, non-negative number of seconds (e.g. 600) or a duration such as {example}, not {}"#,
                self.source_text(v)
            )),
            Value::StringLit(s) => {
                let text = s.value.as_ref();
                if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                    Err(format!(
                        r#"{name} {} needs a unit: write "{text}s", or the number {text} for seconds"#,
                        quote(text)
                    ))
                } else {
                    match humantime::parse_duration(text) {
                        Ok(d) if d.subsec_nanos() % 1_000_000 != 0 => Err(format!(
                            "{name} {} is finer than a millisecond; write whole milliseconds, seconds or more, e.g. {example}",
                            quote(text)
                        )),
                        Ok(d) => Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                        Err(err) => Err(format!(
                            r#"{name} {} is not a duration ({err}); write one such as {example} or "1h 30m", or a number of seconds"#,
                            quote(text)
                        )),
                    }
                }
            }
            other => Err(format!(
                "{name} must be a number of seconds or a duration such as {example}, not {}",
                kind(other)
            )),
        };
        match ms {
            Ok(ms) if (spec.min_ms..=spec.max_ms).contains(&ms) => Some(ms),
            Ok(_) => {
                self.problem(
                    pointer,
                    v.start(),
                    format!(
                        "{name} must be {}, e.g. {example}, not {}",
                        spec.range,
                        self.source_text(v)
                    ),
                );
                None
            }
            Err(message) => {
                self.problem(pointer, v.start(), message);
                None
            }
        }
    }

    /// `webhook`: `{"url": "https://…", "format": "json" | "slack"}`.
    fn webhook(&mut self, v: &Value<'_>, pointer: &str) -> Option<Webhook> {
        if let Value::StringLit(s) = v {
            self.problem(
                pointer,
                v.start(),
                format!(
                    r#"webhook must be an object, not a string; write "webhook": {{"url": {}}}"#,
                    quote(&s.value)
                ),
            );
            return None;
        }
        let obj = self.object(
            v,
            pointer,
            r#"webhook (e.g. {"url": "https://hooks.example.com/warden", "format": "json"})"#,
        )?;
        let f = self.fields(obj, pointer, WEBHOOK_FIELDS);
        let mut ok = true;

        let url = match f.get("url") {
            Some(uv) => {
                let here = format!("{pointer}/url");
                match self.string(uv, &here, "webhook url") {
                    Some(text) => match url::Url::parse(text) {
                        Ok(u) if matches!(u.scheme(), "http" | "https") => Some(String::from(u)),
                        Ok(u) => {
                            self.problem(
                                &here,
                                uv.start(),
                                format!(
                                    r#"webhook url must be an http or https URL, not {}, e.g. "https://hooks.example.com/warden""#,
                                    quote(&format!("{}:", u.scheme()))
                                ),
                            );
                            None
                        }
                        Err(err) => {
                            self.problem(
                                &here,
                                uv.start(),
                                format!(
                                    r#"webhook url {} is not a URL ({err}); write an absolute URL such as "https://hooks.example.com/warden""#,
                                    quote(text)
                                ),
                            );
                            None
                        }
                    },
                    None => None,
                }
            }
            None => {
                self.missing(
                    &f,
                    pointer,
                    "url",
                    r#""url": "https://hooks.example.com/warden""#,
                );
                None
            }
        };

        let mut format = WebhookFormat::default();
        if let Some(fv) = f.get("format") {
            let parsed = match fv {
                Value::StringLit(s) => match s.value.as_ref() {
                    "json" => Some(WebhookFormat::Json),
                    "slack" => Some(WebhookFormat::Slack),
                    _ => None,
                },
                _ => None,
            };
            match parsed {
                Some(p) => format = p,
                None => {
                    let hint = match fv {
                        Value::StringLit(s) => suggest(&s.value, WEBHOOK_FORMATS)
                            .map(|m| format!(r#"; did you mean "{m}"?"#))
                            .unwrap_or_default(),
                        _ => String::new(),
                    };
                    self.problem(
                        &format!("{pointer}/format"),
                        fv.start(),
                        format!(
                            r#"webhook format must be "json" (the default: Warden's own document) or "slack" (a body Slack's incoming webhooks accept), not {}{hint}"#,
                            self.source_text(fv)
                        ),
                    );
                    ok = false;
                }
            }
        }
        let url = url?;
        ok.then_some(Webhook { url, format })
    }

    // ---- conditions -----------------------------------------------------

    fn conditions(&mut self, v: &Value<'_>, pointer: &str, what: &str) -> Option<Vec<Condition>> {
        let items = self.array(
            v,
            pointer,
            &format!(r#"{what} (a list of conditions like {{"path": "args.amount", "op": "gt", "value": 100}})"#),
        )?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.condition(item, format!("{pointer}/{i}")) {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn condition(&mut self, v: &Value<'_>, pointer: String) -> Option<Condition> {
        let obj = self.object(
            v,
            &pointer,
            r#"a condition (e.g. {"path": "args.amount", "op": "gt", "value": 100})"#,
        )?;
        let f = self.fields(obj, &pointer, CONDITION_FIELDS);
        let mut ok = true;

        let path = match f.get("path") {
            Some(pv) => {
                let here = format!("{pointer}/path");
                self.string(pv, &here, "path")
                    .and_then(|text| self.path(text, true, &here, pv.start()))
            }
            None => {
                self.missing(&f, &pointer, "path", r#""path": "args.amount""#);
                None
            }
        };
        let op_name = match f.get("op") {
            Some(ov) => {
                let here = format!("{pointer}/op");
                match self.string(ov, &here, "op") {
                    Some(name) if OPS.contains(&name) => Some(name),
                    Some(name) => {
                        let hint = match op_alias(name).or_else(|| suggest(name, OPS)) {
                            Some(s) => format!("; did you mean \"{s}\"?"),
                            None => String::new(),
                        };
                        self.problem(
                            &here,
                            ov.start(),
                            format!(
                                "unknown op {}{hint} (allowed: {})",
                                quote(name),
                                OPS.join(", ")
                            ),
                        );
                        None
                    }
                    None => None,
                }
            }
            None => {
                self.missing(&f, &pointer, "op", r#""op": "eq""#);
                None
            }
        };
        let mut reason = None;
        if let Some(rv) = f.get("reason") {
            match self.string(rv, &format!("{pointer}/reason"), "reason") {
                Some(r) => reason = Some(r.to_owned()),
                None => ok = false,
            }
        }
        let value = f.get("value");
        let op = op_name.and_then(|name| self.op(name, value, &f, &pointer));
        // Compact JSON, so reasons stay on one line however the file is laid out.
        let value_text = value
            .and_then(|v| self.text.get(v.start()..v.end()))
            .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw).ok())
            .map(|j| crate::condition::truncate(&j.to_string(), 60))
            .unwrap_or_default();
        match (path, op) {
            (Some(path), Some(op)) if ok => Some(Condition {
                pointer,
                path,
                op,
                value_text,
                reason,
            }),
            _ => None,
        }
    }

    fn op(
        &mut self,
        name: &str,
        value: Option<&Value<'_>>,
        f: &Fields<'_, '_>,
        pointer: &str,
    ) -> Option<Op> {
        let here = format!("{pointer}/value");
        if name == "exists" {
            return match value {
                None => Some(Op::Exists(true)),
                Some(Value::BooleanLit(b)) => Some(Op::Exists(b.value)),
                Some(other) => {
                    self.problem(
                        &here,
                        other.start(),
                        format!(
                            r#"op "exists" takes true (the default) or false as its value, not {}"#,
                            kind(other)
                        ),
                    );
                    None
                }
            };
        }
        let Some(value) = value else {
            self.problem(
                &child(pointer, "value"),
                f.start,
                format!(
                    r#"op "{name}" needs a "value"; add one, e.g. "value": {}"#,
                    example(name)
                ),
            );
            return None;
        };
        match name {
            "eq" => self.json(value, &here).map(Op::Eq),
            "neq" => self.json(value, &here).map(Op::Neq),
            "contains" => self.json(value, &here).map(Op::Contains),
            "in" | "not_in" => match self.json(value, &here)? {
                serde_json::Value::Array(items) if name == "in" => Some(Op::In(items)),
                serde_json::Value::Array(items) => Some(Op::NotIn(items)),
                _ => {
                    self.problem(
                        &here,
                        value.start(),
                        format!(
                            r#"op "{name}" needs an array value such as ["a", "b"], not {}"#,
                            kind(value)
                        ),
                    );
                    None
                }
            },
            "lt" | "lte" | "gt" | "gte" => {
                let n = match value {
                    Value::NumberLit(n) => n.value.parse::<f64>().ok().filter(|n| n.is_finite()),
                    _ => None,
                };
                let Some(n) = n else {
                    self.problem(
                        &here,
                        value.start(),
                        format!(
                            r#"op "{name}" needs a number value such as 100, not {}"#,
                            self.source_text(value)
                        ),
                    );
                    return None;
                };
                Some(match name {
                    "lt" => Op::Lt(n),
                    "lte" => Op::Lte(n),
                    "gt" => Op::Gt(n),
                    _ => Op::Gte(n),
                })
            }
            "regex" => {
                let pattern = self.string(value, &here, r#"the value of op "regex""#)?;
                match regex::Regex::new(pattern) {
                    Ok(re) => Some(Op::Regex(re)),
                    Err(err) => {
                        self.problem(
                            &here,
                            value.start(),
                            format!(
                                "regex does not compile: {}; fix the pattern (syntax: https://docs.rs/regex)",
                                regex_error(&err)
                            ),
                        );
                        None
                    }
                }
            }
            _ => None,
        }
    }

    /// Parses `args`, `args.a.b` or `identity.a`. `allow_identity` is false
    /// for `increment_from`, which reads the call's arguments only.
    fn path(&mut self, text: &str, allow_identity: bool, pointer: &str, at: usize) -> Option<Path> {
        let (root, rest) = if text == "args" {
            (Root::Args, None)
        } else if let Some(rest) = text.strip_prefix("args.") {
            (Root::Args, Some(rest))
        } else if let Some(rest) = text.strip_prefix("identity.").filter(|_| allow_identity) {
            (Root::Identity, Some(rest))
        } else {
            let msg = if allow_identity {
                format!(
                    r#"path {} must be "args", "args.<field>[.<field>...]" or "identity.<attribute>" (e.g. "args.amount", "identity.name")"#,
                    quote(text)
                )
            } else {
                format!(
                    r#"increment_from {} must name an argument, e.g. "args.amount""#,
                    quote(text)
                )
            };
            self.problem(pointer, at, msg);
            return None;
        };
        let mut segments = Vec::new();
        if let Some(rest) = rest {
            for seg in rest.split('.') {
                if seg.is_empty() {
                    self.problem(
                        pointer,
                        at,
                        format!(
                            "path {} has an empty segment; separate field names with single dots",
                            quote(text)
                        ),
                    );
                    return None;
                }
                let index = seg
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| seg.parse::<usize>().ok())
                    .flatten();
                segments.push((seg.to_owned(), index));
            }
        }
        if !allow_identity && segments.is_empty() {
            self.problem(
                pointer,
                at,
                r#"increment_from must name one argument, e.g. "args.amount", not the whole "args""#,
            );
            return None;
        }
        Some(Path {
            root,
            segments,
            text: text.to_owned(),
        })
    }

    // ---- limits -----------------------------------------------------------

    fn limits(&mut self, v: &Value<'_>, pointer: &str) -> Option<Vec<Limit>> {
        let items = self.array(
            v,
            pointer,
            r#"limits (a list like [{"counter": "calls", "window": "minute", "max": 10}])"#,
        )?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.limit(item, format!("{pointer}/{i}")) {
                Some(l) => out.push(l),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn limit(&mut self, v: &Value<'_>, pointer: String) -> Option<Limit> {
        let obj = self.object(
            v,
            &pointer,
            r#"a limit (e.g. {"counter": "calls", "window": "minute", "max": 10})"#,
        )?;
        let f = self.fields(obj, &pointer, LIMIT_FIELDS);
        let mut ok = true;

        let counter = match f.get("counter") {
            Some(cv) => {
                let here = format!("{pointer}/counter");
                match self.string(cv, &here, "counter") {
                    Some(name) if !name.is_empty() && !name.chars().any(char::is_control) => {
                        Some(name.to_owned())
                    }
                    Some(_) => {
                        self.problem(
                            &here,
                            cv.start(),
                            "counter must be a non-empty name without control characters, e.g. \"refund_spend\"",
                        );
                        None
                    }
                    None => None,
                }
            }
            None => {
                self.missing(&f, &pointer, "counter", r#""counter": "calls""#);
                None
            }
        };

        let window = match f.get("window") {
            Some(wv) => {
                let secs = match wv {
                    Value::StringLit(s) => match s.value.as_ref() {
                        "second" => Some(1),
                        "minute" => Some(60),
                        "hour" => Some(3600),
                        "day" => Some(86_400),
                        _ => None,
                    },
                    Value::NumberLit(n) => n.value.parse::<u64>().ok().filter(|&n| n > 0),
                    _ => None,
                };
                if secs.is_none() {
                    self.problem(
                        &format!("{pointer}/window"),
                        wv.start(),
                        format!("{WINDOW_MSG}, not {}", self.source_text(wv)),
                    );
                }
                secs
            }
            None => {
                self.missing(&f, &pointer, "window", r#""window": "minute""#);
                None
            }
        };

        let max = match f.get("max") {
            Some(mv) => {
                let n = match mv {
                    Value::NumberLit(n) => n
                        .value
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite() && *n >= 0.0),
                    _ => None,
                };
                if n.is_none() {
                    self.problem(
                        &format!("{pointer}/max"),
                        mv.start(),
                        format!(
                            "max must be a non-negative number such as 10, not {}",
                            self.source_text(mv)
                        ),
                    );
                }
                n
            }
            None => {
                self.missing(&f, &pointer, "max", r#""max": 10"#);
                None
            }
        };

        let mut scope = ScopeKind::Grant;
        let mut scope_at = obj.range.start;
        if let Some(sv) = f.get("scope") {
            scope_at = sv.start();
            let parsed = match sv {
                Value::StringLit(s) => match s.value.as_ref() {
                    "grant" => Some(ScopeKind::Grant),
                    "identity" => Some(ScopeKind::Identity),
                    "session" => Some(ScopeKind::Session),
                    "global" => Some(ScopeKind::Global),
                    _ => None,
                },
                _ => None,
            };
            match parsed {
                Some(s) => scope = s,
                None => {
                    self.problem(
                        &format!("{pointer}/scope"),
                        sv.start(),
                        format!(
                            r#"scope must be "grant" (the default), "identity", "session" or "global", not {}"#,
                            self.source_text(sv)
                        ),
                    );
                    ok = false;
                }
            }
        }

        let mut increment_from = None;
        let mut inc_at = None;
        if let Some(iv) = f.get("increment_from") {
            let here = format!("{pointer}/increment_from");
            inc_at = Some(iv.start());
            match self
                .string(iv, &here, "increment_from")
                .and_then(|text| self.path(text, false, &here, iv.start()))
            {
                Some(p) => increment_from = Some(p),
                None => ok = false,
            }
        }

        let (Some(counter), Some(window_secs), Some(max)) = (counter, window, max) else {
            return None;
        };
        if !ok {
            return None;
        }
        self.counters.push(CounterUse {
            name: counter.clone(),
            limit: pointer.clone(),
            scope,
            increment_from: increment_from.as_ref().map(|p| p.text.clone()),
            scope_at: f.get("scope").map(|_| scope_at),
            increment_at: inc_at,
            start: obj.range.start,
        });
        Some(Limit {
            pointer,
            counter,
            scope,
            window_secs,
            max,
            increment_from,
        })
    }

    /// Every use of a counter name must agree on scope and increment_from with
    /// its first use, because they share one stored counter.
    fn check_counters(&mut self) {
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut conflicts = Vec::new();
        for (i, u) in self.counters.iter().enumerate() {
            let Some(&j) = first.get(u.name.as_str()) else {
                first.insert(&u.name, i);
                continue;
            };
            let f = &self.counters[j];
            if f.scope != u.scope || f.increment_from != u.increment_from {
                let show = |x: &CounterUse| {
                    let inc = match &x.increment_from {
                        Some(p) => format!("increment_from {p}"),
                        None => "no increment_from".to_owned(),
                    };
                    format!("scope {}, {inc}", x.scope)
                };
                // Point at the differing setting where it is written.
                let (field, at) = if f.scope != u.scope {
                    ("scope", u.scope_at)
                } else {
                    ("increment_from", u.increment_at)
                };
                let (pointer, at) = match at {
                    Some(at) => (format!("{}/{field}", u.limit), at),
                    None => (u.limit.clone(), u.start),
                };
                conflicts.push((
                    pointer,
                    at,
                    format!(
                        "counter {} is used with {} here but with {} at {}; limits sharing a counter must use the same scope and increment_from (or use another counter name)",
                        quote(&u.name),
                        show(u),
                        show(f),
                        f.limit
                    ),
                ));
            }
        }
        for (pointer, at, message) in conflicts {
            self.problem(&pointer, at, message);
        }
    }
}

/// Refuses all external `$ref`s: loading a policy must never touch the
/// network or the disk, whatever features other crates enable on jsonschema.
struct NoRemote;

impl jsonschema::Retrieve for NoRemote {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!(
            "Warden does not fetch {}; inline the schema under \"$defs\"",
            uri.as_str()
        )
        .into())
    }
}

/// The meta-schema for the draft a schema declares (2020-12 when it declares
/// none); `None` for an unknown `$schema`, which `build` reports itself.
fn meta_validator(schema: &serde_json::Value) -> Option<&'static jsonschema::Validator> {
    use jsonschema::Draft;
    Some(match Draft::default().detect(schema).ok()? {
        Draft::Draft4 => &jsonschema::draft4::meta::VALIDATOR,
        Draft::Draft6 => &jsonschema::draft6::meta::VALIDATOR,
        Draft::Draft7 => &jsonschema::draft7::meta::VALIDATOR,
        Draft::Draft201909 => &jsonschema::draft201909::meta::VALIDATOR,
        _ => &jsonschema::draft202012::meta::VALIDATOR,
    })
}

/// The AST node at a JSON Pointer below `v`.
fn find<'b, 'a>(v: &'b Value<'a>, pointer: &str) -> Option<&'b Value<'a>> {
    let mut node = v;
    if pointer.is_empty() {
        return Some(node);
    }
    for raw in pointer.strip_prefix('/')?.split('/') {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Object(o) => &o.properties.iter().find(|p| p.name.as_str() == seg)?.value,
            Value::Array(a) => a.elements.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Appends one escaped JSON Pointer segment.
pub(crate) fn child(pointer: &str, key: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + key.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

fn quote(s: &str) -> String {
    serde_json::Value::from(crate::condition::truncate(s, 60)).to_string()
}

fn kind(v: &Value<'_>) -> &'static str {
    match v {
        Value::StringLit(_) => "a string",
        Value::NumberLit(_) => "a number",
        Value::BooleanLit(_) => "a boolean",
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::NullKeyword(_) => "null",
    }
}

fn example(op: &str) -> &'static str {
    match op {
        "in" | "not_in" => r#"["a", "b"]"#,
        "lt" | "lte" | "gt" | "gte" => "100",
        "regex" => r#""^[a-z]+$""#,
        _ => r#""text""#,
    }
}

/// The one-line core of a regex error (its Display spans several lines).
fn regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    match text.lines().find_map(|l| l.trim().strip_prefix("error: ")) {
        Some(core) => core.trim_end_matches('.').to_owned(),
        None => text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .trim_end_matches('.')
            .to_owned(),
    }
}

/// An `audit` object: `arguments` unset means "inherit".
#[derive(Default)]
struct Audit {
    arguments: Option<ArgumentCapture>,
    redact: Vec<String>,
}

fn capture_mode(name: &str) -> Option<ArgumentCapture> {
    Some(match name {
        "keys" => ArgumentCapture::Keys,
        "hashed" => ArgumentCapture::Hashed,
        "full" => ArgumentCapture::Full,
        _ => return None,
    })
}

/// How one duration field is read and bounded.
struct DurationSpec {
    name: &'static str,
    min_ms: u64,
    max_ms: u64,
    /// The allowed range, for messages.
    range: &'static str,
    example: &'static str,
}

const TIMEOUT: DurationSpec = DurationSpec {
    name: "timeout",
    min_ms: 1,
    max_ms: MAX_TIMEOUT_MS,
    range: "more than 0 and at most 7 days",
    example: r#""10m""#,
};

const VALID_FOR: DurationSpec = DurationSpec {
    name: "valid_for",
    min_ms: 0,
    max_ms: MAX_VALID_FOR_MS,
    range: "at most 30 days (0, the default, makes each approval cover one call)",
    example: r#""1h""#,
};

/// What is wrong with one `approvers` entry, if anything.
fn approver_problem(text: &str) -> Option<String> {
    const FORMS: &str =
        r#""user", "operator", an identity such as "alice@example.com", or "group:<name>""#;
    if text.is_empty() {
        return Some(format!("an approver must not be empty; write {FORMS}"));
    }
    if text.trim() != text {
        return Some(format!(
            "approver {} has leading or trailing whitespace; write {}",
            quote(text),
            quote(text.trim())
        ));
    }
    if text.chars().any(char::is_control) {
        return Some(format!(
            "approver {} contains control characters; write {FORMS}",
            quote(text)
        ));
    }
    let lower = text.to_ascii_lowercase();
    if (lower == "user" || lower == "operator") && lower != text {
        return Some(format!(
            r#"approver {} is not a keyword; did you mean "{lower}"? ("user" and "operator" are written in lowercase)"#,
            quote(text)
        ));
    }
    let prefix = text.get(..6).filter(|p| p.eq_ignore_ascii_case("group:"))?;
    let name = &text[6..];
    if prefix != "group:" {
        return Some(format!(
            r#"approver {} has the prefix {}; did you mean {}? (the prefix is written "group:")"#,
            quote(text),
            quote(prefix),
            quote(&format!("group:{name}"))
        ));
    }
    if name.is_empty() {
        return Some(format!(
            r#"approver {} names no group; write "group:<name>", e.g. "group:finance""#,
            quote(text)
        ));
    }
    if name.trim() != name {
        return Some(format!(
            "approver {} has whitespace around the group name; write {}",
            quote(text),
            quote(&format!("group:{}", name.trim()))
        ));
    }
    None
}

/// Other words people use for the two approval modes.
fn mode_alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "wait" | "sync" | "synchronous" | "block" | "blocking" | "hold_call" => "hold",
        "asynchronous" | "nowait" | "no_wait" | "background" | "deferred" | "later" => "async",
        _ => return None,
    })
}

/// Other words people use for the pinning modes.
fn pinning_alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "block" | "strict" | "require" | "required" | "enforced"
        | "deny" => "enforce",
        "false" | "no" | "none" | "disabled" | "disable" | "never" => "off",
        "log" | "report" | "audit" | "alert" | "warning" | "notify" => "warn",
        _ => return None,
    })
}

/// Other words people use for the lint actions.
fn lint_alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "block" | "deny" | "filter" | "remove" | "drop" | "strip" | "hidden" | "enforce" => "hide",
        "false" | "no" | "none" | "disabled" | "disable" | "ignore" => "off",
        "log" | "report" | "audit" | "alert" | "warning" | "notify" | "on" => "warn",
        _ => return None,
    })
}

/// Other names people use for the lint finding kinds.
fn lint_kind_alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().replace('-', "_").as_str() {
        "poisoning" | "tool_poisoning" | "instructions" | "hidden_instruction"
        | "prompt_injection" | "injection" => "hidden_instructions",
        "unicode"
        | "invisible"
        | "zero_width"
        | "hidden_unicode"
        | "invisible_characters"
        | "invisible_chars" => "invisible_unicode",
        "ansi" | "ansi_escapes" | "escape" | "escapes" | "terminal_escape" => "ansi_escape",
        "secret" | "secrets" | "secret_files" | "sensitive_files" | "secret_paths" => "secret_file",
        "cross_server" | "cross_reference" | "cross_server_references" | "cross_references" => {
            "cross_server_reference"
        }
        "shadow" | "shadowed" | "shadows" | "name_collision" | "collision" | "duplicates" => {
            "shadowing"
        }
        "defaults" | "all" | "other" | "others" | "*" => "default",
        _ => return None,
    })
}

/// Other words people use for the three capture modes.
fn capture_alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "key" | "names" | "name" | "none" | "default" | "minimal" => "keys",
        "hash" | "hashes" | "hmac" | "digest" | "salted" | "pseudonymized" | "pseudonymised" => {
            "hashed"
        }
        "all" | "values" | "raw" | "redacted" | "everything" | "verbose" => "full",
        _ => return None,
    })
}

/// Operator spellings from other policy languages.
fn op_alias(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "==" | "=" | "equals" | "equal" | "is" => "eq",
        "!=" | "<>" | "not_equals" | "not_equal" | "ne" => "neq",
        "<" | "less" | "less_than" => "lt",
        "<=" | "le" | "less_than_or_equal" | "at_most" => "lte",
        ">" | "greater" | "greater_than" => "gt",
        ">=" | "ge" | "greater_than_or_equal" | "at_least" => "gte",
        "match" | "matches" | "pattern" => "regex",
        "includes" | "has" => "contains",
        "one_of" | "any_of" => "in",
        "nin" | "none_of" => "not_in",
        "present" | "exist" => "exists",
        _ => return None,
    })
}

/// The allowed name closest to `name`, if it is close enough to be a typo.
fn suggest<'n>(name: &str, allowed: &[&'n str]) -> Option<&'n str> {
    let lower = name.to_ascii_lowercase().replace('-', "_");
    allowed
        .iter()
        .map(|&a| (edit_distance(&lower, a), a))
        .filter(|&(d, a)| d <= 2 && d < a.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, a)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("limit", RULE_FIELDS), Some("limits"));
        assert_eq!(suggest("deny-if", RULE_FIELDS), Some("deny_if"));
        assert_eq!(suggest("Reason", RULE_FIELDS), Some("reason"));
        assert_eq!(suggest("colour", RULE_FIELDS), None);
    }

    #[test]
    fn pointers_escape_slash_and_tilde() {
        assert_eq!(child("/tools", "a/b~c"), "/tools/a~1b~0c");
    }

    #[test]
    fn depth_is_counted_outside_strings() {
        assert_eq!(json_too_deep(r#"{"a": "[[[[[["}"#, MAX_DEPTH), None);
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(json_too_deep(&deep, MAX_DEPTH), Some(MAX_DEPTH));
    }
}

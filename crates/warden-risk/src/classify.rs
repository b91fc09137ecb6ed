//! The classifier: a tool definition in, a category, a risk, the evidence and a rationale out.

use serde::Serialize;

/// What a tool does (DESIGN.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Retrieves data, no side effect.
    Read,
    /// Creates or updates data, reversibly.
    Write,
    /// Deletes or irreversibly overwrites.
    Destructive,
    /// Runs code, commands, queries, workflows, builds, integrations, deployments.
    Execute,
    /// Communicates outside: email, chat, posts, notifications, webhooks.
    Send,
    /// Moves money, charges, refunds, payouts, billing changes.
    Financial,
    /// Permissions, credentials, users, security settings, access grants.
    Admin,
}

impl Category {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Read => "read",
            Category::Write => "write",
            Category::Destructive => "destructive",
            Category::Execute => "execute",
            Category::Send => "send",
            Category::Financial => "financial",
            Category::Admin => "admin",
        }
    }
}

/// How dangerous it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Risk {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Critical => "critical",
        }
    }
}

/// The classifier's judgement of one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// The tool's name as given.
    pub name: String,
    /// What it does.
    pub category: Category,
    /// How dangerous.
    pub risk: Risk,
    /// What decided, each a short phrase naming the word, property or annotation and where it
    /// was found, e.g. `name word "delete"`, `property "amount" (number)`.
    pub evidence: Vec<String>,
    /// One or two plain-English sentences: what the tool does and what to do about it.
    pub rationale: String,
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies one MCP `Tool` object (`name`, `description`, `inputSchema`, `annotations`, …).
///
/// Pure and deterministic. The verb decides first (the name's, else the description's first
/// sentence's), then its object (money, access, messages, code), then the words that raise a
/// risk (bulk, whole databases, arbitrary code, production, sensitive data); properties fill in
/// when the words are silent, and annotations can only raise the result, never lower it. A
/// definition that says nothing recognisable is a medium-risk write. Missing or mistyped fields
/// are read as absent; the tool's `name` is copied as given (`""` when absent).
pub fn classify(tool: &serde_json::Value) -> Assessment {
    let d = Definition::read(tool);
    let j = judge(&d);
    let rationale = rationale(&j);
    Assessment {
        name: d.name,
        category: j.category,
        risk: j.risk,
        evidence: j.evidence.0,
        rationale,
    }
}

use crate::definition::{Definition, Prop, Source};
use crate::lexicon::{Act, LEXICON, flag::*};
use crate::words::Word;
use std::collections::HashSet;

/// A word that counted, and where it was.
#[derive(Debug, Clone, Copy)]
struct Hit<'a> {
    word: &'a Word,
    source: Source,
}

impl Hit<'_> {
    fn evidence(&self) -> String {
        let text = crate::words::split(&self.word.text).join(" ");
        match self.source {
            Source::Name => format!("name word {text:?}"),
            Source::Title => format!("title word {text:?}"),
            Source::First | Source::Body => format!("description: {text:?}"),
        }
    }

    fn text(&self) -> &str {
        &self.word.text
    }

    /// The word in the singular: "workflow" for "workflows", "policy" for "policies".
    fn singular(&self) -> String {
        let t = self.word.text.as_str();
        if let Some(stem) = t.strip_suffix("ies") {
            format!("{stem}y")
        } else if t.ends_with('s')
            && !t.ends_with("ss")
            && crate::words::stem(&t[..t.len() - 1]) == self.word.stem
        {
            t[..t.len() - 1].to_owned()
        } else {
            t.to_owned()
        }
    }

    /// The word in the singular with its article: "a workflow", "an issue" (for "issues").
    fn a(&self) -> String {
        let singular = self.singular();
        let article = if singular.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {singular}")
    }

    /// Whether this is the word `word` (in any of its forms).
    fn is(&self, word: &str) -> bool {
        self.word.stem == crate::words::stem(word)
    }
}

/// The deciding verb.
#[derive(Debug, Clone, Copy)]
struct Verb<'a> {
    hit: Hit<'a>,
    act: Act,
    flags: u16,
    /// Where it stands among its words (its object follows it).
    index: usize,
    /// A noun-like or light verb the rest of the definition may overrule.
    weak: bool,
}

/// Evidence phrases, in the order found, without repeats.
#[derive(Debug, Default)]
struct Evidence(Vec<String>);

impl Evidence {
    fn push(&mut self, e: String) {
        if !self.0.contains(&e) {
            self.0.push(e);
        }
    }
}

/// What the classifier concluded, before it is written up.
#[derive(Debug)]
struct Judgement {
    category: Category,
    risk: Risk,
    evidence: Evidence,
    /// What the tool does, as a clause after "it".
    what: String,
}

fn hits(ws: &[Word], source: Source) -> impl Iterator<Item = Hit<'_>> {
    ws.iter().map(move |word| Hit { word, source })
}

fn find<'a>(hs: &[Hit<'a>], set: &HashSet<String>) -> Option<Hit<'a>> {
    hs.iter().copied().find(|h| set.contains(&h.word.stem))
}

fn has(hs: &[Hit<'_>], word: &str) -> bool {
    hs.iter().any(|h| h.is(word))
}

/// Words too small to mean anything as an object: digits, single letters, stop words.
fn meaningful(w: &Word) -> bool {
    let lx = &*LEXICON;
    w.text.chars().count() > 1
        && !w.text.chars().all(|c| c.is_ascii_digit())
        && !lx.stop.contains(&w.stem)
        && !lx.prepositions.contains(&w.stem)
}

/// The verb of a name (or title): the first verb that is not noun-like, else the first
/// noun-like one; a light verb (`perform`, `post` as an HTTP method) looks at what follows;
/// two verbs joined (`create_or_update`, `search_replace`) count as the more severe.
fn name_verb(ws: &[Word], source: Source) -> Option<Verb<'_>> {
    let lx = &*LEXICON;
    // In a name, a past participle is an adjective ("diff_unstaged", "list_archived").
    let cands: Vec<(usize, Act, u16)> = ws
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            lx.verb(&w.stem).map(|(a, f)| {
                let participle = w.text.ends_with("ed") && w.text != w.stem;
                (i, a, if participle { f | NOUNISH } else { f })
            })
        })
        .collect();
    let &(i, act, flags) = cands
        .iter()
        .find(|c| c.2 & (NOUNISH | LIGHT) == 0)
        .or_else(|| cands.iter().find(|c| c.2 & LIGHT == 0))
        .or_else(|| cands.first())?;
    let mut verb = Verb {
        hit: Hit {
            word: &ws[i],
            source,
        },
        act,
        flags,
        index: i,
        weak: flags & NOUNISH != 0,
    };
    if flags & LIGHT != 0 {
        match lookahead(ws, i, source).map(|v| joined(ws, v, source)) {
            Some(v) => return Some(v),
            None => verb.weak = true,
        }
    }
    Some(joined(ws, verb, source))
}

/// After a light verb, the action the next words name: "initiate a refund", "perform click".
fn lookahead(ws: &[Word], i: usize, source: Source) -> Option<Verb<'_>> {
    let lx = &*LEXICON;
    for (j, w) in ws.iter().enumerate().skip(i + 1).take(4) {
        if let Some((act, flags)) = lx.verb(&w.stem) {
            if flags & LIGHT == 0 {
                return Some(Verb {
                    hit: Hit { word: w, source },
                    act,
                    flags,
                    index: j,
                    weak: false,
                });
            }
        } else if let Some(act) = lx.nominal(&w.stem) {
            return Some(Verb {
                hit: Hit { word: w, source },
                act,
                flags: 0,
                index: j,
                weak: false,
            });
        }
    }
    None
}

/// `create_or_update`, `get_or_create`, `search_replace`: the more severe of joined verbs.
/// A list of verbs counts as its most severe ("create, update or delete"); the object
/// follows the last of them.
fn joined<'a>(ws: &'a [Word], verb: Verb<'a>, source: Source) -> Verb<'a> {
    let lx = &*LEXICON;
    let mut best = verb;
    let mut last = verb.index;
    let mut i = verb.index;
    loop {
        let (w, j, conj) = match ws.get(i + 1) {
            Some(w) if matches!(w.stem.as_str(), "or" | "and" | "then") => match ws.get(i + 2) {
                Some(n) => (n, i + 2, true),
                None => break,
            },
            Some(w) => (w, i + 1, false),
            None => break,
        };
        let Some((act, flags)) = lx.verb(&w.stem) else {
            break;
        };
        if flags & LIGHT != 0 {
            break;
        }
        // A noun-like verb continues a list ("ignore, watch, or delete") but is an action
        // only after a conjunction ("create commit status" is about a status).
        let counts = conj || flags & NOUNISH == 0;
        if counts {
            last = j;
            if act > best.act {
                best = Verb {
                    hit: Hit { word: w, source },
                    act,
                    flags,
                    index: j,
                    weak: verb.weak && flags & NOUNISH != 0,
                };
            }
        }
        i = j;
    }
    best.index = last;
    best
}

/// Words a description may open with before its verb: "This tool will create…",
/// "Use this to resolve…".
const LEAD_INS: &[&str] = &[
    "a", "allows", "an", "api", "can", "endpoint", "function", "helps", "it", "lets", "method",
    "please", "the", "this", "to", "tool", "use", "used", "will", "you",
];

/// The verb of the description's first sentence: the first verb, where a noun-like one
/// (`records`, `runs`) counts only as the sentence's opening word; light verbs look ahead.
fn sentence_verb(ws: &[Word], source: Source) -> Option<Verb<'_>> {
    let lx = &*LEXICON;
    let lead = ws
        .iter()
        .position(|w| !LEAD_INS.contains(&w.text.as_str()))
        .unwrap_or(0);
    for (i, w) in ws.iter().enumerate() {
        let Some((act, flags)) = lx.verb(&w.stem) else {
            if i == lead
                && let Some(act) = lx.nominal(&w.stem)
            {
                return Some(Verb {
                    hit: Hit { word: w, source },
                    act,
                    flags: 0,
                    index: i,
                    weak: false,
                });
            }
            continue;
        };
        if flags & NOUNISH != 0 && flags & LIGHT == 0 && i != lead {
            continue;
        }
        if flags & LIGHT != 0 {
            // What a light verb does is said by the words after it, or not at all: a later
            // verb in the sentence is usually a purpose ("apply the plan to create…").
            return lookahead(ws, i, source)
                .map(|v| joined(ws, v, source))
                .or(Some(Verb {
                    hit: Hit { word: w, source },
                    act,
                    flags,
                    index: i,
                    weak: true,
                }));
        }
        let verb = Verb {
            hit: Hit { word: w, source },
            act,
            flags,
            index: i,
            weak: false,
        };
        return Some(joined(ws, verb, source));
    }
    None
}

/// The object of a verb: the meaningful words after it up to a preposition (at most six),
/// and, in names written object-first (`pods_exec`, `bucket_delete`), the words before it.
fn object<'a>(
    ws: &'a [Word],
    verb_index: Option<usize>,
    source: Source,
    before: bool,
) -> Vec<Hit<'a>> {
    let lx = &*LEXICON;
    let Some(vi) = verb_index else {
        return hits(ws, source).filter(|h| meaningful(h.word)).collect();
    };
    let mut out: Vec<Hit<'a>> = Vec::new();
    if before {
        out.extend(
            hits(&ws[..vi], source)
                .filter(|h| meaningful(h.word) && lx.verb(&h.word.stem).is_none()),
        );
    }
    for w in ws.iter().skip(vi + 1) {
        if lx.prepositions.contains(&w.stem) {
            break;
        }
        if out.len() >= 8 {
            break;
        }
        match lx.verb(&w.stem) {
            // Another verb starts another clause ("ignore, watch, or delete a thread").
            Some((_, f)) if f & NOUNISH == 0 && !out.is_empty() => break,
            Some((_, f)) if f & NOUNISH == 0 => {}
            _ if meaningful(w) => out.push(Hit { word: w, source }),
            _ => {}
        }
    }
    out
}

/// Properties whose name is made of these words (`sql_query`, `shellCommand`), with only
/// neutral words beside them (not `country_code`).
fn exec_prop(p: &Prop) -> bool {
    let lx = &*LEXICON;
    p.words.iter().any(|w| lx.exec_props.contains(&w.stem))
        && p.words
            .iter()
            .all(|w| lx.exec_props.contains(&w.stem) || lx.exec_prop_neutral.contains(&w.stem))
        && matches!(p.ty.as_str(), "string" | "")
}

fn prop_has(p: &Prop, set: &HashSet<String>) -> bool {
    p.words.iter().any(|w| set.contains(&w.stem))
}

fn prop_evidence(p: &Prop) -> String {
    let name: String = p.name.chars().take(40).collect();
    match (p.described, p.ty.is_empty()) {
        (false, false) => format!("property {name:?} ({})", p.ty),
        (false, true) => format!("property {name:?}"),
        (true, false) => format!("described argument {name:?} ({})", p.ty),
        (true, true) => format!("described argument {name:?}"),
    }
}

/// "all documents", "every record", "in bulk", "many": more than one thing at once.
/// `multiple` counts only when `several` does (deleting several things at once is bulk;
/// writing several is ordinary).
fn bulk<'a>(name: &[Hit<'a>], first: &[Hit<'a>], several: bool) -> Option<Hit<'a>> {
    let lx = &*LEXICON;
    let counts = |h: &Hit<'_>| lx.bulk.contains(&h.word.stem) && (several || !h.is("multiple"));
    if let Some(h) = name.iter().copied().find(counts) {
        return Some(h);
    }
    for (i, h) in first.iter().enumerate() {
        if !counts(h) {
            continue;
        }
        if ["all", "every", "multiple", "entire"]
            .iter()
            .any(|w| h.is(w))
        {
            let followed = first
                .iter()
                .skip(i + 1)
                .take(3)
                .any(|n| lx.items.contains(&n.word.stem) || lx.records.contains(&n.word.stem));
            if followed {
                return Some(*h);
            }
        } else {
            return Some(*h);
        }
    }
    None
}

fn judge(d: &Definition) -> Judgement {
    let lx = &*LEXICON;
    let mut ev = Evidence::default();

    let name: Vec<Hit<'_>> = hits(&d.name_words, Source::Name).collect();
    let title: Vec<Hit<'_>> = hits(&d.title_words, Source::Title).collect();
    let first: Vec<Hit<'_>> = hits(&d.first, Source::First).collect();
    // Name, title and first sentence: where a tool says what it is.
    let ctx: Vec<Hit<'_>> = name.iter().chain(&title).chain(&first).copied().collect();
    let name_ctx: Vec<Hit<'_>> = name.iter().chain(&title).copied().collect();

    // 1. The verb: the name's, unless it is noun-like or light and the description says more.
    let nv =
        name_verb(&d.name_words, Source::Name).or_else(|| name_verb(&d.title_words, Source::Title));
    let dv = sentence_verb(&d.first, Source::First);
    let verb = match (nv, dv) {
        (Some(n), Some(s)) if n.weak && !s.weak => Some(s),
        (Some(n), _) => Some(n),
        (None, Some(s)) => Some(s),
        (None, None) => sentence_verb(&d.body, Source::Body).filter(|v| !v.weak),
    };

    // A multiplexing tool (`manage_thing` with `action: create | update | delete`) can do
    // the most severe of its actions.
    let action_prop = d
        .props
        .iter()
        .filter(|p| p.words.iter().any(|w| lx.action_props.contains(&w.stem)))
        .flat_map(|p| p.enum_words.iter().map(move |w| (p, w)))
        .filter_map(|(p, w)| lx.verb(&w.stem).map(|(act, flags)| (p, w, act, flags)))
        .filter(|(_, _, _, flags)| flags & LIGHT == 0)
        .max_by_key(|(_, _, act, _)| *act);
    let verb = match (verb, action_prop) {
        (Some(v), Some((p, w, act, flags))) if act > v.act => {
            ev.push(format!(
                "property {:?} may be {:?}",
                p.name.chars().take(40).collect::<String>(),
                w.text
            ));
            Some(Verb {
                hit: v.hit,
                act,
                flags,
                index: v.index,
                weak: false,
            })
        }
        (None, Some((p, w, act, flags))) => {
            ev.push(format!(
                "property {:?} may be {:?}",
                p.name.chars().take(40).collect::<String>(),
                w.text
            ));
            Some(Verb {
                hit: Hit {
                    word: w,
                    source: Source::Body,
                },
                act,
                flags,
                index: 0,
                weak: false,
            })
        }
        (v, _) => v,
    };

    // 2. Its object: what the name is about, and what the first sentence's verb acts on.
    let (name_obj, name_src) = match nv {
        Some(v) if v.hit.source == Source::Title => (
            object(&d.title_words, Some(v.index), Source::Title, true),
            Source::Title,
        ),
        Some(v) => (
            object(&d.name_words, Some(v.index), Source::Name, true),
            Source::Name,
        ),
        None => (
            object(&d.name_words, None, Source::Name, true),
            Source::Name,
        ),
    };
    let _ = name_src;
    let desc_obj = match dv {
        Some(v) => object(&d.first, Some(v.index), Source::First, false),
        None => Vec::new(),
    };
    let primary: Vec<Hit<'_>> = if name_obj.is_empty() {
        desc_obj.clone()
    } else {
        name_obj.clone()
    };
    let objects: Vec<Hit<'_>> = name_obj.iter().chain(&desc_obj).copied().collect();

    let catalog = find(&objects, &lx.catalog);
    // A subscription to notifications, a thread or a topic bills nobody.
    let unbilled = find(&ctx, &lx.unbilled);
    let money = objects
        .iter()
        .copied()
        .find(|h| lx.money.contains(&h.word.stem) && !(h.is("subscription") && unbilled.is_some()))
        .filter(|_| catalog.is_none());
    let admin = find(&objects, &lx.admin).or_else(|| find(&name_obj, &lx.admin_by_name));
    let money_prop = d
        .props
        .iter()
        .find(|p| prop_has(p, &lx.money_props) && p.ty != "string" && p.ty != "boolean");
    let currency_prop = d.props.iter().find(|p| prop_has(p, &lx.currency_props));
    let exec_props: Vec<&Prop> = d.props.iter().filter(|p| exec_prop(p)).collect();
    // An identifier is not content: `message_id` names a message, it does not carry one.
    let identifier = |p: &Prop| p.words.iter().any(|w| lx.identifiers.contains(&w.stem));
    let address_prop = d.props.iter().find(|p| prop_has(p, &lx.address_props));
    let payload_prop = d.props.iter().find(|p| {
        prop_has(p, &lx.payload_props) && !identifier(p) && p.ty != "array" && p.ty != "boolean"
    });
    let admin_prop = d.props.iter().find(|p| prop_has(p, &lx.admin_props));
    let url_prop = d.props.iter().find(|p| prop_has(p, &lx.url_props));
    let unsent = find(&ctx, &lx.unsent);

    // A verb that runs what it is given, wherever it was said.
    let runs_like = |v: &Verb<'_>| v.flags & RUNS != 0 || v.hit.is("start");
    let runs = verb.is_some_and(|v| runs_like(&v))
        || nv.is_some_and(|v| runs_like(&v))
        || dv.is_some_and(|v| runs_like(&v));

    // 3. The category.
    let mut category;
    let mut what;
    // Only the server's word for what it does: never below medium.
    let mut unconfirmed = false;
    // Set when the category itself shows the tool runs arbitrary code.
    let mut runs_code = false;
    match verb {
        None => {
            // Nothing says what it does: what it takes, then what the server claims.
            if let Some(h) = find(&name_ctx, &lx.arbitrary) {
                ev.push(h.evidence());
                category = Category::Execute;
                what = format!("runs {}", h.text());
            } else if let Some(p) = exec_props.first() {
                ev.push(prop_evidence(p));
                category = Category::Execute;
                what = "runs the code or command it is given".to_owned();
            } else if let (Some(m), Some(c)) = (money_prop, currency_prop) {
                ev.push(prop_evidence(m));
                ev.push(prop_evidence(c));
                category = Category::Financial;
                what = "moves an amount of money".to_owned();
            } else if let (Some(a), Some(p)) = (address_prop, payload_prop) {
                ev.push(prop_evidence(a));
                ev.push(prop_evidence(p));
                category = Category::Send;
                what = "sends content to a recipient".to_owned();
            } else if let Some(m) = money {
                ev.push(m.evidence());
                category = Category::Financial;
                what = format!("acts on money ({})", m.text());
            } else if let Some(a) = admin {
                ev.push(a.evidence());
                category = Category::Admin;
                what = format!("acts on access or credentials ({})", a.text());
            } else if let Some(p) = admin_prop {
                ev.push(prop_evidence(p));
                category = Category::Admin;
                what = "changes access or credentials".to_owned();
            } else if d.annotations.destructive == Some(true) {
                ev.push("annotation destructiveHint".to_owned());
                category = Category::Destructive;
                what = "deletes or overwrites data, as the server says".to_owned();
            } else if d.annotations.read_only == Some(true) {
                ev.push("annotation readOnlyHint (unconfirmed by the definition)".to_owned());
                category = Category::Read;
                unconfirmed = true;
                what = "reads data, as the server says; nothing in its definition confirms it"
                    .to_owned();
            } else {
                ev.push("no recognisable verb in the name or description".to_owned());
                category = Category::Write;
                what = "does something its definition does not make clear".to_owned();
            }
        }
        Some(v) => {
            ev.push(v.hit.evidence());
            let word = v.hit.text().to_owned();
            match v.act {
                Act::Read => {
                    category = Category::Read;
                    what = "retrieves data and changes nothing".to_owned();
                    if v.hit.is("capture")
                        && let Some(m) = money
                    {
                        ev.push(m.evidence());
                        category = Category::Financial;
                        what = format!("captures a payment ({})", m.text());
                    } else if v.hit.is("generate")
                        && let Some(a) = admin.filter(|a| lx.credentials.contains(&a.word.stem))
                    {
                        // Generating a token or a key mints a credential.
                        ev.push(a.evidence());
                        category = Category::Admin;
                        what = format!("mints a credential ({})", a.text());
                    }
                }
                Act::Write => {
                    category = Category::Write;
                    let social = v.flags & SOCIAL != 0;
                    let admin = admin.filter(|_| !social);
                    // Query languages written by a write tool change data (the write rule
                    // below); other code stored by it will run.
                    let code = objects.iter().copied().find(|h| {
                        lx.code.contains(&h.word.stem) && !lx.queries.contains(&h.word.stem)
                    });
                    what = "creates or changes data, reversibly".to_owned();
                    let comment = find(&primary, &lx.comments);
                    let target = find(&ctx, &lx.public_targets);
                    let message = find(&primary, &lx.messages);
                    // Creating a deployment deploys; scaling one does not.
                    let deploy = find(&ctx, &lx.deploys).or_else(|| {
                        objects
                            .iter()
                            .copied()
                            .find(|h| h.is("deployment"))
                            .filter(|_| v.flags & CREATES != 0)
                    });
                    let runnable = find(&objects, &lx.runnable);
                    let overwrite = ctx.iter().copied().find(|h| h.is("overwrite"));
                    if let Some(m) = money {
                        ev.push(m.evidence());
                        category = Category::Financial;
                        what = format!(
                            "changes what money is charged, paid or refunded ({})",
                            m.text()
                        );
                    } else if let (Some(m), Some(c), None) = (money_prop, currency_prop, catalog) {
                        ev.push(prop_evidence(m));
                        ev.push(prop_evidence(c));
                        category = Category::Financial;
                        what = "moves an amount of money".to_owned();
                    } else if let Some(a) = admin {
                        ev.push(a.evidence());
                        category = Category::Admin;
                        what = format!(
                            "changes access, credentials or security settings ({})",
                            a.text()
                        );
                    } else if let Some(c) = code {
                        ev.push(c.evidence());
                        category = Category::Execute;
                        runs_code = true;
                        what = format!("stores {} that will run", c.a());
                    } else if let (true, Some(r)) = (v.flags & CONTROL != 0, runnable) {
                        ev.push(r.evidence());
                        category = Category::Execute;
                        what = format!("controls a running {}", r.singular());
                    } else if let Some(dp) = deploy {
                        ev.push(dp.evidence());
                        category = Category::Execute;
                        runs_code = true;
                        what = "deploys code or schema changes".to_owned();
                    } else if let (true, Some(m), None) = (v.flags & CREATES != 0, message, unsent)
                    {
                        ev.push(m.evidence());
                        category = Category::Send;
                        what = format!("sends {} to other people", m.a());
                    } else if let (Some(c), Some(t), None) = (comment, target, unsent) {
                        ev.push(c.evidence());
                        ev.push(t.evidence());
                        category = Category::Send;
                        what = format!(
                            "posts {} that others read and are notified of, on {}",
                            c.a(),
                            t.a()
                        );
                    } else if v.hit.is("post") && v.weak && unsent.is_none() {
                        // Posting, with nothing saying it is an HTTP method for creating
                        // something, publishes.
                        category = Category::Send;
                        what = "posts content others can read".to_owned();
                    } else if let Some(o) = overwrite {
                        ev.push(o.evidence());
                        category = Category::Destructive;
                        what = "overwrites existing data".to_owned();
                    } else if let Some(p) = exec_props.first() {
                        ev.push(prop_evidence(p));
                        category = Category::Execute;
                        what = "stores a command or code that will run".to_owned();
                    } else if !primary.is_empty()
                        && primary.iter().all(|h| {
                            ["number", "integer", "value"].iter().any(|w| h.is(w))
                                || h.word.text.chars().all(|c| c.is_ascii_digit())
                                || h.is("two")
                        })
                    {
                        // "Adds two numbers": arithmetic, not a change to stored data.
                        category = Category::Read;
                        what = "computes a result from its arguments".to_owned();
                    } else if let (true, Some(a), Some(p), None) =
                        (v.flags & CREATES != 0, address_prop, payload_prop, unsent)
                    {
                        ev.push(prop_evidence(a));
                        ev.push(prop_evidence(p));
                        category = Category::Send;
                        what = "sends content to a recipient".to_owned();
                    }
                }
                Act::Destroy => {
                    category = Category::Destructive;
                    what = "deletes or irreversibly overwrites data".to_owned();
                    if let Some(a) = admin {
                        ev.push(a.evidence());
                        category = Category::Admin;
                        what = format!("removes access or credentials ({})", a.text());
                    } else if let Some(m) = money {
                        ev.push(m.evidence());
                        category = Category::Financial;
                        what = format!("removes a financial record ({})", m.text());
                    }
                }
                Act::Execute => {
                    category = Category::Execute;
                    what = if v.flags & INTERACTS != 0 {
                        "acts on a web page as the user, which can set off any action the page offers".to_owned()
                    } else if let Some(r) = find(&objects, &lx.runnable)
                        // "a long running operation": the word is the verb, not what runs.
                        .filter(|r| !r.text().ends_with("ing"))
                    {
                        format!("causes a system to run {}", r.a())
                    } else {
                        format!("makes another system {word} something")
                    };
                    let query = find(&ctx, &lx.queries);
                    let published =
                        find(&primary, &lx.messages).or_else(|| find(&primary, &lx.comments));
                    if let (true, Some(m)) = (v.flags & INTERACTS != 0, published) {
                        // Submitting a post or a review publishes it.
                        ev.push(m.evidence());
                        category = Category::Send;
                        what = format!("publishes {} others can read", m.a());
                    } else if let Some(m) = money {
                        ev.push(m.evidence());
                        category = Category::Financial;
                        what = format!("carries out a payment ({})", m.text());
                    } else if let (true, Some(q)) = (runs, query) {
                        // A query tool: what its statements may do decides.
                        let statement = find(&ctx, &lx.statements);
                        let dml = find(&ctx, &lx.dml);
                        let ddl = find(&ctx, &lx.ddl);
                        let select = find(&ctx, &lx.queries).filter(|h| h.is("select"));
                        let read_only = ctx.windows(2).any(|w| w[0].is("read") && w[1].is("only"))
                            || has(&ctx, "readonly");
                        ev.push(q.evidence());
                        if statement.is_none() {
                            category = Category::Read;
                            what = "runs a search query".to_owned();
                        } else if let (Some(m), None) = (dml, ddl) {
                            ev.push(m.evidence());
                            category = Category::Write;
                            what = "runs data-changing statements; one without a condition changes every row".to_owned();
                        } else if ddl.is_none() && (select.is_some() || read_only) {
                            if let Some(s) = select {
                                ev.push(s.evidence());
                            } else {
                                ev.push("description: \"read only\"".to_owned());
                            }
                            category = Category::Read;
                            what = "runs read-only queries over the database's contents".to_owned();
                        } else {
                            what = "runs arbitrary database statements".to_owned();
                        }
                    }
                }
                Act::Send => {
                    category = Category::Send;
                    what = if v.hit.is("upload") {
                        "uploads local data to another party".to_owned()
                    } else {
                        "sends messages or data to others, and what is sent cannot be recalled"
                            .to_owned()
                    };
                    let running =
                        find(&ctx, &lx.runnable).filter(|h| lx.arbitrary.contains(&h.word.stem));
                    if let Some(r) = running {
                        // Input sent to a shell or a process is run by it.
                        ev.push(r.evidence());
                        category = Category::Execute;
                        runs_code = true;
                        what = format!("feeds input to a running {}", r.singular());
                    } else if let Some(m) = money {
                        ev.push(m.evidence());
                        category = Category::Financial;
                        what = format!("sends a bill or money ({})", m.text());
                    }
                }
                Act::Pay => {
                    category = Category::Financial;
                    what = format!("moves money ({word})");
                    if v.hit.is("transfer")
                        && money.is_none()
                        && money_prop.is_none()
                        && !objects.is_empty()
                    {
                        if let Some(f) = objects.iter().find(|h| h.is("file") || h.is("data")) {
                            ev.push(f.evidence());
                            category = Category::Write;
                            what = "moves data from one place to another".to_owned();
                        } else {
                            // Transferring a resource hands it, and control of it, to someone else.
                            ev.push(objects[0].evidence());
                            category = Category::Admin;
                            what =
                                "hands a resource, and control of it, to someone else".to_owned();
                        }
                    }
                }
                Act::Govern => {
                    category = Category::Admin;
                    what = format!("changes who may access what ({word})");
                    if let Some(a) = admin {
                        ev.push(a.evidence());
                    }
                }
            }
        }
    }

    // 4. The risk within the category.
    let risk;
    match category {
        Category::Read => {
            let selfish = find(&ctx, &lx.selfish);
            let personal = |h: &Hit<'_>| {
                ["user", "profile", "member", "person", "people", "account"]
                    .iter()
                    .any(|w| h.is(w))
            };
            // Words that look sensitive but are not about data: "the user" of a description
            // is the person using the agent; "the user has access to" is the caller's access;
            // commit logs are history; one's own profile is not personal data.
            let incidental = |i: usize| {
                let h = &ctx[i];
                let prev = if i > 0 {
                    ctx[i - 1].word.text.as_str()
                } else {
                    ""
                };
                (h.word.text == "user" && prev == "the")
                    || (h.is("access") && ["has", "have", "can", "with"].contains(&prev))
                    || (h.is("log") && has(&ctx, "commit"))
                    || (selfish.is_some() && personal(h))
            };
            let sensitive = ctx.iter().copied().enumerate().find_map(|(i, h)| {
                (lx.sensitive.contains(&h.word.stem) && !incidental(i)).then_some(h)
            });
            let contents = ctx.iter().copied().find(|h| h.is("content"));
            let reads_content = verb.is_some_and(|v| v.flags & CONTENT != 0);
            let file = ctx.iter().copied().find(|h| h.is("file"));
            // "records" and "documents", not "recorded".
            let records = ctx
                .iter()
                .copied()
                .find(|h| lx.records.contains(&h.word.stem) && !h.word.text.ends_with("ed"))
                .or_else(|| {
                    find(&ctx, &lx.queries).filter(|_| {
                        find(&ctx, &lx.databases).is_some() || find(&ctx, &lx.statements).is_some()
                    })
                });
            let docs = find(&objects, &lx.docs);
            let access = ctx.iter().copied().enumerate().find_map(|(i, h)| {
                (lx.admin.contains(&h.word.stem) && !incidental(i)).then_some(h)
            });
            let financial = find(&ctx, &lx.money).filter(|_| catalog.is_none());
            let visits = verb.is_some_and(|v| v.flags & VISITS != 0);
            let url_word = ctx
                .iter()
                .copied()
                .find(|h| lx.url_props.contains(&h.word.stem));
            if let Some(dc) = docs {
                // Documentation is public knowledge, whatever it is about.
                ev.push(dc.evidence());
                risk = Risk::Low;
                what = "reads documentation".to_owned();
            } else if let (true, Some(f)) = (reads_content, file) {
                ev.push(f.evidence());
                risk = Risk::Medium;
                what = "reads file contents, which may hold secrets".to_owned();
            } else if let Some(c) = contents
                .filter(|_| reads_content || find(&ctx, &lx.containers_of_content).is_some())
            {
                ev.push(c.evidence());
                risk = Risk::Medium;
                what = "reads stored contents, which may hold secrets or personal data".to_owned();
            } else if let Some(s) = sensitive {
                ev.push(s.evidence());
                risk = Risk::Medium;
                what = format!("reads private or sensitive data ({})", s.text());
            } else if let Some(r) = records {
                ev.push(r.evidence());
                risk = Risk::Medium;
                what = "reads the contents of a database".to_owned();
            } else if let Some(a) = access {
                ev.push(a.evidence());
                risk = Risk::Medium;
                what = format!("reads security-relevant settings ({})", a.text());
            } else if let Some(m) = financial {
                ev.push(m.evidence());
                risk = Risk::Medium;
                what = format!("reads financial data ({})", m.text());
            } else if let (true, Some(u)) = (visits, url_word) {
                ev.push(u.evidence());
                risk = Risk::Medium;
                what = "loads arbitrary URLs: a path for server-side requests and for leaking data, and a source of untrusted content".to_owned();
            } else if let Some(p) = url_prop {
                ev.push(prop_evidence(p));
                risk = Risk::Medium;
                what =
                    "loads a URL it is given: a path for server-side requests and for leaking data"
                        .to_owned();
            } else if let Some(x) = verb.filter(|v| v.hit.is("export")) {
                ev.push(x.hit.evidence());
                risk = Risk::Medium;
                what = "exports data in bulk".to_owned();
            } else if let Some(s) = selfish
                .filter(|_| has(&ctx, "user") || has(&ctx, "whoami") || has(&ctx, "who_am_i"))
            {
                ev.push(s.evidence());
                risk = Risk::Low;
                what = "identifies the caller's own account".to_owned();
            } else {
                risk = Risk::Low;
            }
        }
        Category::Write => {
            let query = find(&primary, &lx.queries);
            if let Some(b) = bulk(&name_ctx, &first, false) {
                ev.push(b.evidence());
                risk = Risk::High;
                what = "changes many records at once, which is hard to undo".to_owned();
            } else if let Some(q) = query {
                if !what.starts_with("runs data-changing") {
                    ev.push(q.evidence());
                    what =
                        "runs data-changing statements; one without a condition changes every row"
                            .to_owned();
                }
                risk = Risk::High;
            } else if what.starts_with("runs data-changing") {
                risk = Risk::High;
            } else {
                risk = Risk::Medium;
            }
        }
        Category::Destructive => {
            let whole = find(&objects, &lx.containers);
            if let Some(b) = bulk(&name_ctx, &first, true) {
                ev.push(b.evidence());
                risk = Risk::Critical;
                what = "deletes in bulk, beyond recovery".to_owned();
            } else if let Some(c) = whole {
                ev.push(c.evidence());
                risk = Risk::Critical;
                what = format!("deletes a whole {} and everything in it", c.singular());
            } else {
                risk = Risk::High;
            }
        }
        Category::Execute => {
            let arbitrary = find(&objects, &lx.arbitrary)
                .or_else(|| find(&name_ctx, &lx.arbitrary))
                .filter(|_| runs || what.starts_with("feeds input"));
            let deploy = find(&ctx, &lx.deploys);
            let said_arbitrary = ctx.iter().copied().find(|h| h.is("arbitrary"));
            if let Some(v) = verb.filter(|v| v.flags & CRITICAL != 0) {
                risk = Risk::Critical;
                if v.hit.is("deploy") || v.hit.is("redeploy") {
                    what = "deploys code".to_owned();
                } else {
                    what = "runs arbitrary code or commands".to_owned();
                }
            } else if runs_code {
                risk = Risk::Critical;
            } else if let Some(a) = arbitrary {
                ev.push(a.evidence());
                risk = Risk::Critical;
                what = format!("runs arbitrary {}", a.text());
            } else if let Some(p) = exec_props.first() {
                ev.push(prop_evidence(p));
                risk = Risk::Critical;
                what = "runs the code or command it is given".to_owned();
            } else if let Some(dp) = deploy {
                ev.push(dp.evidence());
                risk = Risk::Critical;
                what = "deploys code or schema changes".to_owned();
            } else if let Some(a) = said_arbitrary {
                ev.push(a.evidence());
                risk = Risk::Critical;
            } else {
                risk = Risk::High;
            }
        }
        Category::Send => {
            let audience = find(&name_ctx, &lx.audiences).or_else(|| find(&first, &lx.audiences));
            if let Some(a) = audience {
                ev.push(a.evidence());
                risk = Risk::Critical;
                what = "sends to a whole audience at once, irreversibly".to_owned();
            } else {
                risk = Risk::High;
            }
        }
        Category::Financial | Category::Admin => risk = Risk::Critical,
    }

    // 5. Annotations: untrusted, so they may raise the risk but never lower it.
    let mut risk = risk;
    if unconfirmed {
        risk = risk.max(Risk::Medium);
    }
    if category == Category::Read && risk == Risk::Low {
        if d.annotations.destructive == Some(true) {
            ev.push("annotation destructiveHint".to_owned());
            risk = Risk::Medium;
            what = "retrieves data, though the server marks it destructive".to_owned();
        } else if d.annotations.read_only == Some(false) {
            ev.push("annotation readOnlyHint: false".to_owned());
            risk = Risk::Medium;
            what = "retrieves data, though the server says it is not read-only".to_owned();
        }
    }
    if category != Category::Read && d.annotations.read_only == Some(true) {
        ev.push(format!(
            "annotation readOnlyHint ignored: the definition says {category}"
        ));
    }

    Judgement {
        category,
        risk,
        evidence: ev,
        what,
    }
}

/// What to do about a tool of this category and risk; matches what
/// [`recommend`](crate::recommend::recommend) writes.
fn handling(category: Category, risk: Risk) -> &'static str {
    match (category, risk) {
        (Category::Read, Risk::Low) => "Allow it.",
        (Category::Read, _) => {
            "Allow it only to agents that need this data, and watch where its results go."
        }
        (Category::Write, Risk::Low | Risk::Medium) => "Allow it with a rate limit.",
        (Category::Write, _) => {
            "Allow it with a rate limit and review its arguments; consider requiring approval."
        }
        (Category::Destructive, _) => "Require a person's approval for each call.",
        (Category::Execute, Risk::Critical) => {
            "Rate-limit it and constrain its arguments; consider requiring approval or a sandbox."
        }
        (Category::Execute, _) => "Rate-limit it and validate its arguments.",
        (Category::Send, _) => "Rate-limit it and constrain its recipients and content.",
        (Category::Financial, _) => {
            "Require a person's approval for each call, and cap amounts with a spend limit."
        }
        (Category::Admin, _) => "Require a person's approval for each call.",
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn rationale(j: &Judgement) -> String {
    format!(
        "{} tool, {} risk: it {}. {}",
        capitalised(j.category.as_str()),
        j.risk,
        j.what,
        handling(j.category, j.risk)
    )
}

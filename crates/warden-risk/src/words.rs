//! Words out of identifiers and prose: tool names in every style (`snake_case`, `camelCase`,
//! `kebab-case`, `dotted.names`, `slashed/names`, `digits2words`), descriptions, property
//! names; and a light stemmer so that `deletes`, `deleted`, `deleting` and `delete` compare
//! equal. The stemmer is deliberately crude (no dictionary): both sides of every comparison go
//! through it, so it only has to be consistent, not linguistically right.

/// One word: as written (lowercased) and its stem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    /// The word lowercased, as it appeared.
    pub text: String,
    /// [`stem`] of `text`; lexicon lookups use this.
    pub stem: String,
}

/// Splits an identifier or a text into lowercase words: at every character that is not a
/// letter or a digit, between a lowercase letter and an uppercase one (`camelCase`), before the
/// last capital of a run followed by a lowercase letter (`HTTPServer` → `http server`), and
/// between letters and digits (`r2` → `r 2`, `auth0` → `auth 0`). An `'s` ending a word is
/// dropped (`issue's` → `issue`).
pub(crate) fn split(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<String>| {
        if !cur.is_empty() {
            out.push(std::mem::take(cur).to_lowercase());
        }
    };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '\u{2019}' {
            // A possessive or contraction: `issue's` → `issue`, `don't` → `don` `t` is harmless.
            flush(&mut cur, &mut out);
            if chars.get(i + 1).is_some_and(|n| *n == 's' || *n == 'S')
                && !chars.get(i + 2).is_some_and(|n| n.is_alphanumeric())
            {
                i += 2;
                continue;
            }
            i += 1;
            continue;
        }
        // `re-run`, `Re-send`: one word (`rerun`), as the prefix is spelt without the hyphen.
        if c == '-'
            && cur.eq_ignore_ascii_case("re")
            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic())
        {
            i += 1;
            continue;
        }
        if !c.is_alphanumeric() {
            flush(&mut cur, &mut out);
            i += 1;
            continue;
        }
        if let Some(&prev) = cur.chars().last().as_ref() {
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_alphabetic() && c.is_numeric())
                || (prev.is_numeric() && c.is_alphabetic())
                || (prev.is_uppercase()
                    && c.is_uppercase()
                    && chars.get(i + 1).is_some_and(|n| n.is_lowercase())
                    && !plural_acronym(&chars, i));
            if boundary {
                flush(&mut cur, &mut out);
            }
        }
        cur.push(c);
        i += 1;
    }
    flush(&mut cur, &mut out);
    out
}

/// `URLs`, `IDs`, `APIs`: at `i` an uppercase letter followed by a lone `s` ending the word.
fn plural_acronym(chars: &[char], i: usize) -> bool {
    chars.get(i + 1) == Some(&'s') && !chars.get(i + 2).is_some_and(|c| c.is_lowercase())
}

/// [`split`], each word with its stem.
pub(crate) fn words(text: &str) -> Vec<Word> {
    split(text)
        .into_iter()
        .map(|text| Word {
            stem: stem(&text),
            text,
        })
        .collect()
}

/// Words ending in `-ing` or `-ed` that are not verb forms (stripping would confuse them with
/// other words: `settings` is not `set`).
const KEEP: &[&str] = &[
    "anything",
    "billing",
    "bring",
    "building",
    "ceiling",
    "during",
    "embed",
    "evening",
    "everything",
    "feed",
    "hundred",
    "king",
    "logging",
    "mapping",
    "meeting",
    "morning",
    "need",
    "nothing",
    "ping",
    "pricing",
    "ring",
    "seed",
    "setting",
    "shed",
    "something",
    "speed",
    "spring",
    "sting",
    "string",
    "swing",
    "thing",
    "warning",
    "wing",
];

/// Irregular verb forms, mapped to the base form before stemming.
const IRREGULAR: &[(&str, &str)] = &[
    ("bought", "buy"),
    ("built", "build"),
    ("chose", "choose"),
    ("chosen", "choose"),
    ("did", "do"),
    ("done", "do"),
    ("drew", "draw"),
    ("drawn", "draw"),
    ("found", "find"),
    ("frozen", "freeze"),
    ("froze", "freeze"),
    ("gave", "give"),
    ("given", "give"),
    ("got", "get"),
    ("gotten", "get"),
    ("held", "hold"),
    ("hidden", "hide"),
    ("kept", "keep"),
    ("made", "make"),
    ("paid", "pay"),
    ("ran", "run"),
    ("rewritten", "rewrite"),
    ("rewrote", "rewrite"),
    ("sent", "send"),
    ("shown", "show"),
    ("sold", "sell"),
    ("spent", "spend"),
    ("taken", "take"),
    ("took", "take"),
    ("written", "write"),
    ("wrote", "write"),
];

/// A light stemmer: plural and third-person `-s`/`-es`/`-ies`, then `-ing`/`-ed`, then a final
/// `e`, then a doubled final consonant. `deletes`, `deleted`, `deleting`, `delete` → `delet`;
/// `messages` → `messag`; `queries` → `query`; `running`, `runs` → `run`.
pub(crate) fn stem(word: &str) -> String {
    let lower = word.to_lowercase();
    let base = IRREGULAR
        .iter()
        .find(|(form, _)| *form == lower)
        .map_or(lower.as_str(), |(_, base)| base);
    if base.len() <= 3 || !base.is_ascii() || KEEP.contains(&base) {
        return base.to_owned();
    }
    let mut s = base.to_owned();
    // Plurals and third person.
    if s.ends_with("ies") && s.len() > 4 {
        s.truncate(s.len() - 3);
        s.push('y');
    } else if s.ends_with("sses")
        || (s.ends_with("es")
            && ["s", "x", "z", "ch", "sh"]
                .iter()
                .any(|e| s[..s.len() - 2].ends_with(e)))
    {
        s.truncate(s.len() - 2);
    } else if s.ends_with('s') && !(s.ends_with("ss") || s.ends_with("us") || s.ends_with("is")) {
        s.truncate(s.len() - 1);
    }
    if KEEP.contains(&s.as_str()) {
        return s;
    }
    // Verb forms.
    let mut verb_form = false;
    if s.ends_with("ing") && s.len() >= 6 {
        s.truncate(s.len() - 3);
        verb_form = true;
    } else if s.ends_with("ed") && s.len() >= 5 {
        s.truncate(s.len() - 2);
        verb_form = true;
    }
    if s.ends_with('e') && s.len() > 3 {
        s.pop();
    }
    // `stopped` → `stopp` → `stop`; `add` stays `add` (too short to tell).
    let b = s.as_bytes();
    if verb_form
        && b.len() >= 4
        && b[b.len() - 1] == b[b.len() - 2]
        && !matches!(
            b[b.len() - 1],
            b'l' | b's' | b'z' | b'a' | b'e' | b'i' | b'o' | b'u'
        )
    {
        s.pop();
    }
    s
}

/// The first sentence of a text: up to the first `.`, `!` or `?` followed by whitespace or
/// the end, or the first blank line, whichever comes first. A line break inside a sentence
/// counts as a space, except that a line which does not end a sentence but is followed by a
/// list, a heading or a blank line ends it.
pub(crate) fn first_sentence(text: &str) -> &str {
    let text = text.trim_start();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if matches!(c, b'.' | b'!' | b'?') {
            let next = bytes.get(i + 1).copied();
            // `e.g.` and `i.e.`, version numbers and file names do not end a sentence.
            let abbreviation = text[..i].ends_with("e.g") || text[..i].ends_with("i.e");
            if !abbreviation && next.is_none_or(|n| n.is_ascii_whitespace()) {
                return &text[..=i];
            }
        }
        if c == b'\n' {
            let rest = text[i + 1..].trim_start_matches([' ', '\t', '\r']);
            if rest.is_empty()
                || rest.starts_with('\n')
                || rest.starts_with(['-', '*', '#', '<', '`', '|'])
                || rest.chars().next().is_some_and(|c| c.is_ascii_digit())
                || (i > 0 && bytes[i - 1] == b':')
            {
                return &text[..i];
            }
        }
        i += 1;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_prefixed_verbs_are_one_word() {
        assert_eq!(
            split("Re-run an integration"),
            ["rerun", "an", "integration"]
        );
        assert_eq!(split("re-send"), ["resend"]);
        assert_eq!(split("pre-run"), ["pre", "run"]);
    }

    #[test]
    fn splits_every_naming_style() {
        assert_eq!(split("delete_email"), ["delete", "email"]);
        assert_eq!(split("createPullRequest"), ["create", "pull", "request"]);
        assert_eq!(split("API-post-search"), ["api", "post", "search"]);
        assert_eq!(split("connections.refresh"), ["connections", "refresh"]);
        assert_eq!(split("repos/list"), ["repos", "list"]);
        assert_eq!(split("r2_bucket_delete"), ["r", "2", "bucket", "delete"]);
        assert_eq!(split("auth0_list_logs"), ["auth", "0", "list", "logs"]);
        assert_eq!(split("HTTPServerStart"), ["http", "server", "start"]);
        assert_eq!(split("getS3Object"), ["get", "s", "3", "object"]);
        assert_eq!(split("list of URLs"), ["list", "of", "urls"]);
        assert_eq!(split("getIDsForAPIs"), ["get", "ids", "for", "apis"]);
        assert_eq!(
            split("Update a Sentry issue's status."),
            ["update", "a", "sentry", "issue", "status"]
        );
        assert_eq!(split("  __x__  "), ["x"]);
        assert!(split("").is_empty());
        assert_eq!(split("résumé_Ändern"), ["résumé", "ändern"]);
    }

    #[test]
    fn stems_meet() {
        for (a, b) in [
            ("delete", "deletes"),
            ("delete", "deleted"),
            ("delete", "deleting"),
            ("message", "messages"),
            ("query", "queries"),
            ("run", "running"),
            ("run", "runs"),
            ("stop", "stopped"),
            ("commit", "committed"),
            ("add", "added"),
            ("push", "pushes"),
            ("process", "processes"),
            ("policy", "policies"),
            ("send", "sent"),
            ("write", "written"),
            ("search", "searches"),
            ("file", "files"),
        ] {
            assert_eq!(stem(a), stem(b), "{a} / {b}");
        }
        for (a, b) in [
            ("setting", "set"),
            ("status", "stat"),
            ("address", "add"),
            ("string", "str"),
        ] {
            assert_ne!(stem(a), stem(b), "{a} / {b}");
        }
        assert_eq!(stem("settings"), "setting");
        assert_eq!(stem("access"), "access");
    }

    #[test]
    fn first_sentences() {
        assert_eq!(
            first_sentence("Delete a file. It is gone."),
            "Delete a file."
        );
        assert_eq!(first_sentence("Shows the log"), "Shows the log");
        assert_eq!(
            first_sentence("Send a message, e.g. to a group.\nMore"),
            "Send a message, e.g. to a group."
        );
        assert_eq!(
            first_sentence("Read v1.2 of a file. More"),
            "Read v1.2 of a file."
        );
        assert_eq!(
            first_sentence("Download media.\n\nArgs:\n  id: the id"),
            "Download media."
        );
        assert_eq!(first_sentence("Search things\n\nArgs: x"), "Search things");
        assert_eq!(
            first_sentence("Create a page\nwith a title. Then"),
            "Create a page\nwith a title."
        );
        assert_eq!(first_sentence("It takes:\n- a\n- b"), "It takes:");
    }
}

//! Tool-name globs: `*` matches any sequence (dots and the empty string
//! included), `?` matches exactly one character. There is no escaping: a name
//! containing `*` or `?` is a pattern.

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    pattern: String,
    chars: Vec<char>,
    /// Literal text before the first wildcard and after the last one: a
    /// name that lacks either cannot match, which rejects most names in a
    /// large policy without running the matcher.
    prefix: String,
    suffix: String,
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Glob {
        let wild = |c: char| c == '*' || c == '?';
        let prefix = pattern.find(wild).map_or(pattern, |i| &pattern[..i]);
        let suffix = pattern.rfind(wild).map_or(pattern, |i| &pattern[i + 1..]);
        Glob {
            pattern: pattern.to_owned(),
            chars: pattern.chars().collect(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        }
    }

    /// Whether a policy key is a pattern rather than an exact name.
    pub(crate) fn is_pattern(key: &str) -> bool {
        key.contains(['*', '?'])
    }

    /// Length in characters; longer patterns take precedence.
    pub(crate) fn len(&self) -> usize {
        self.chars.len()
    }

    /// Iterative matching with one backtrack point (the last `*`): O(pattern
    /// × name) in the worst case, no recursion, no allocation.
    pub(crate) fn matches(&self, name: &str) -> bool {
        if !affix_ok(name, &self.prefix, &self.suffix) {
            return false;
        }
        let pat = &self.chars;
        let (mut p, mut n) = (0usize, 0usize);
        // (pattern index after the star, name byte index the star has eaten up to)
        let mut star: Option<(usize, usize)> = None;
        loop {
            let c = name.get(n..).and_then(|rest| rest.chars().next());
            match (pat.get(p), c) {
                (Some('*'), _) => {
                    p += 1;
                    star = Some((p, n));
                }
                (Some('?'), Some(c)) => {
                    p += 1;
                    n += c.len_utf8();
                }
                (Some(&want), Some(c)) if want == c => {
                    p += 1;
                    n += c.len_utf8();
                }
                (None, None) => return true,
                _ => {
                    // Mismatch: let the last star eat one more character.
                    let Some((sp, sn)) = star else { return false };
                    let Some(c) = name.get(sn..).and_then(|rest| rest.chars().next()) else {
                        return false;
                    };
                    let sn = sn + c.len_utf8();
                    star = Some((sp, sn));
                    p = sp;
                    n = sn;
                }
            }
        }
    }
}

/// Globs in precedence order (longest pattern first, then lexicographic),
/// indexed so a lookup only runs the globs that could match: those whose
/// literal prefix starts with the name's first byte, those without a prefix
/// whose literal suffix ends with the name's last byte, and those with
/// neither. The best-ranked match among the three candidate lists wins, which
/// is the same answer as scanning the whole ordered list.
#[derive(Default)]
pub(crate) struct GlobSet {
    /// (glob, value) in rank order.
    globs: Vec<(Glob, usize)>,
    by_prefix: Vec<Vec<usize>>,
    by_suffix: Vec<Vec<usize>>,
    anywhere: Vec<usize>,
}

impl std::fmt::Debug for GlobSet {
    /// Just the patterns in precedence order; the index is derived data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.globs.iter().map(|(g, _)| &g.pattern))
            .finish()
    }
}

impl GlobSet {
    pub(crate) fn new(mut globs: Vec<(Glob, usize)>) -> GlobSet {
        // Precedence: longer patterns first; ties broken by the pattern text
        // so the winner never depends on the order of keys in the file.
        globs.sort_by(|(a, _), (b, _)| {
            b.len()
                .cmp(&a.len())
                .then_with(|| a.pattern.cmp(&b.pattern))
        });
        let mut by_prefix = vec![Vec::new(); 256];
        let mut by_suffix = vec![Vec::new(); 256];
        let mut anywhere = Vec::new();
        for (rank, (glob, _)) in globs.iter().enumerate() {
            if let Some(&b) = glob.prefix.as_bytes().first() {
                by_prefix[usize::from(b)].push(rank);
            } else if let Some(&b) = glob.suffix.as_bytes().last() {
                by_suffix[usize::from(b)].push(rank);
            } else {
                anywhere.push(rank);
            }
        }
        GlobSet {
            globs,
            by_prefix,
            by_suffix,
            anywhere,
        }
    }

    /// The value of the highest-precedence glob matching `name`.
    pub(crate) fn find(&self, name: &str) -> Option<usize> {
        if self.globs.is_empty() {
            return None;
        }
        let bytes = name.as_bytes();
        let lists = [
            bucket(&self.by_prefix, bytes.first()),
            bucket(&self.by_suffix, bytes.last()),
            &self.anywhere,
        ];
        let rank = lists
            .iter()
            .filter_map(|list| {
                list.iter()
                    .copied()
                    .find(|&r| self.globs.get(r).is_some_and(|(g, _)| g.matches(name)))
            })
            .min()?;
        self.globs.get(rank).map(|&(_, value)| value)
    }
}

/// The candidate list for one byte of the name (none for an empty name).
fn bucket<'s>(index: &'s [Vec<usize>], byte: Option<&u8>) -> &'s [usize] {
    byte.and_then(|&b| index.get(usize::from(b)))
        .map_or(&[], Vec::as_slice)
}

/// Whether `name` starts with `prefix` and ends with `suffix`. Empty affixes
/// are skipped before comparing: in measurements a zero-length slice
/// comparison cost ten times a short one, and most globs have one.
fn affix_ok(name: &str, prefix: &str, suffix: &str) -> bool {
    let bytes = name.as_bytes();
    (prefix.is_empty() || bytes.starts_with(prefix.as_bytes()))
        && (suffix.is_empty() || bytes.ends_with(suffix.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::Glob;

    #[test]
    fn matches_like_a_shell_glob_across_dots() {
        let cases = [
            ("*", "", true),
            ("*", "a.b.c", true),
            ("connections.*", "connections.refresh", true),
            ("connections.*", "connections.", true),
            ("connections.*", "connection", false),
            ("*.delete", "files.delete", true),
            ("*.delete", "files.delete.all", false),
            ("*delete*", "bulk_delete_all", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "x", true),
            ("?*", "", false),
            ("a?a", "a", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
            ("*.admin1", "x.admin1", true),
            ("*.admin1", "x.admin12", false),
            ("zone1.*", "zone12.x", false),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                Glob::new(pattern).matches(name),
                want,
                "{pattern} vs {name}"
            );
        }
    }

    #[test]
    fn set_picks_the_same_winner_as_a_full_scan() {
        use super::GlobSet;
        let patterns = [
            "*", "a*", "*c", "a*c", "ab*", "?b?", "abc*", "*bc", "a?c", "x*",
        ];
        let set = GlobSet::new(
            patterns
                .iter()
                .enumerate()
                .map(|(i, p)| (Glob::new(p), i))
                .collect(),
        );
        let mut sorted: Vec<(usize, &str)> = patterns.iter().copied().enumerate().collect();
        sorted.sort_by(|a, b| {
            b.1.chars()
                .count()
                .cmp(&a.1.chars().count())
                .then(a.1.cmp(b.1))
        });
        for name in [
            "", "a", "abc", "abcd", "xbc", "xyz", "zbc", "ab", "cbc", "é",
        ] {
            let want = sorted
                .iter()
                .find(|(_, p)| Glob::new(p).matches(name))
                .map(|&(i, _)| i);
            assert_eq!(set.find(name), want, "{name}");
        }
        assert_eq!(set.find("abcd"), Some(6)); // "abc*" is the longest match
    }
}

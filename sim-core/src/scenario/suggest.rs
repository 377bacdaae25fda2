//! "Did you mean ...?": the nearest valid name by edit distance.

/// Names longer than this get no suggestion (the distance is quadratic).
const MAX_LEN: usize = 64;

/// The edit distance between `a` and `b` in characters: Levenshtein
/// (insert, delete, substitute) plus swapping two neighbours, so `sede` is
/// one edit from `seed` (the "optimal string alignment" distance).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: i-2, i-1 and i, each b.len() + 1 long; the loops keep
    // every index in range (the transposition needs i, j >= 2).
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j - 1] + cost)
                .min(previous[j] + 1)
                .min(current[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// The candidate closest to `name`, if one is close enough to be a typo:
/// at most a third of the name's characters changed (at least one), ignoring
/// case; or else a candidate the name extends or abbreviates (`polling` for
/// `poll`). Ties go to the earlier candidate.
pub(crate) fn nearest<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let len = name.chars().count();
    if len == 0 || len > MAX_LEN {
        return None;
    }
    let limit = (len / 3).max(1);
    let name = name.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate.len() > MAX_LEN * 4 {
            continue;
        }
        let lower = candidate.to_lowercase();
        let distance = edit_distance(&name, &lower);
        let affix =
            len >= 3 && lower.len() >= 3 && (name.starts_with(&lower) || lower.starts_with(&name));
        // Prefix matches rank after every typo within the limit.
        let score = if distance <= limit {
            distance
        } else if affix {
            limit + 1
        } else {
            continue;
        };
        if best.is_none_or(|(d, _)| score < d) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `"did you mean `x`?"` for the nearest candidate.
pub fn did_you_mean<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<String> {
    nearest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// `a, b or c` with each name in backticks.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("lateny", "latency"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("µs", "us"), 1);
        assert_eq!(edit_distance("sede", "seed"), 1);
        assert_eq!(edit_distance("ca", "abc"), 3);
    }

    #[test]
    fn suggests_only_close_names() {
        let keys = ["latency", "jitter", "loss"];
        assert_eq!(nearest("lateny", keys), Some("latency"));
        assert_eq!(nearest("LOSS", keys), Some("loss"));
        assert_eq!(nearest("bandwidth", keys), None);
        assert_eq!(nearest("", keys), None);
        assert_eq!(nearest("jiter", keys), Some("jitter"));
        assert_eq!(nearest("polling", ["poll", "backoff"]), Some("poll"));
        assert_eq!(nearest("sede", ["seed", "name"]), Some("seed"));
    }

    #[test]
    fn lists_names() {
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
        assert_eq!(one_of(&["a"]), "`a`");
    }
}

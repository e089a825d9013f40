//! `maskCreditCardNumbers`: card numbers in what people read are replaced before the
//! message is stored, so they never reach the database, webhooks or other participants.
//!
//! A card number is 13–19 digits passing the Luhn check, written either as one run or in
//! groups separated by single spaces or dashes ("4242 4242 4242 4242"). Every digit but
//! the last four becomes `*`; separators stay, so the reader still recognises the shape.

use serde_json::Value;

/// Fields of a content whose strings a person reads. Identifiers (`name`, `payload`),
/// URIs and metadata are left alone: masking them would break the integration that
/// reads them, and they are not where customers type card numbers.
const READABLE: &[&str] = &["text", "htmlText", "altText", "title", "description", "textFallback", "address", "label", "placeholder"];

/// Masks card numbers in every readable string of a content object, at any depth.
pub fn mask_in_content(content: &mut Value) {
    match content {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "metadata" {
                    continue;
                }
                match value {
                    Value::String(s) if READABLE.contains(&key.as_str()) => {
                        if let Some(masked) = mask_card_numbers(s) {
                            *s = masked;
                        }
                    }
                    _ => mask_in_content(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_in_content),
        _ => {}
    }
}

/// The text with every card number masked, or `None` when there was none.
pub fn mask_card_numbers(text: &str) -> Option<String> {
    let mut chars: Vec<char> = text.chars().collect();
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let groups = digit_groups(&chars, i);
        let run_end = groups.last().map(|g| g.1).unwrap_or(i + 1);
        changed |= mask_groups(&mut chars, &groups);
        i = run_end;
    }
    changed.then(|| chars.into_iter().collect())
}

/// The digit groups of the run starting at `start`: `(start, end)` index pairs, joined by
/// exactly one space or dash. Two separators in a row end the run.
fn digit_groups(chars: &[char], start: usize) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut i = start;
    loop {
        let begin = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        groups.push((begin, i));
        let joined = i + 1 < chars.len() && matches!(chars[i], ' ' | '-') && chars[i + 1].is_ascii_digit();
        if !joined {
            return groups;
        }
        i += 1;
    }
}

/// Looks for card numbers made of whole consecutive groups, longest first from the left,
/// so "card 4242 4242 4242 4242 exp 12 34" still finds the card. A window never holds
/// more than 19 digits, which keeps this linear however many groups a text has.
fn mask_groups(chars: &mut [char], groups: &[(usize, usize)]) -> bool {
    let mut changed = false;
    let mut first = 0;
    while first < groups.len() {
        let mut candidates = Vec::new();
        let mut digits = 0;
        for (last, &(a, b)) in groups.iter().enumerate().skip(first) {
            digits += b - a;
            if digits > 19 {
                break;
            }
            if digits >= 13 {
                candidates.push(last);
            }
        }
        let window_digits = |last: usize| groups[first..=last].iter().flat_map(|&(a, b)| chars[a..b].iter().copied()).collect::<Vec<char>>();
        let found = candidates.into_iter().rev().find(|&last| luhn(window_digits(last).into_iter()));
        match found {
            Some(last) => {
                let mut keep = 4;
                for &(a, b) in groups[first..=last].iter().rev() {
                    for c in chars[a..b].iter_mut().rev() {
                        if keep > 0 {
                            keep -= 1;
                        } else {
                            *c = '*';
                        }
                    }
                }
                changed = true;
                first = last + 1;
            }
            None => first += 1,
        }
    }
    changed
}

fn luhn(digits: impl DoubleEndedIterator<Item = char>) -> bool {
    let mut sum = 0;
    for (i, c) in digits.rev().enumerate() {
        let mut d = c.to_digit(10).unwrap_or(0);
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mask(s: &str) -> String {
        mask_card_numbers(s).unwrap_or_else(|| s.to_string())
    }

    #[test]
    fn masks_valid_card_numbers_in_their_usual_spellings() {
        assert_eq!(mask("4242 4242 4242 4242"), "**** **** **** 4242");
        assert_eq!(mask("4242-4242-4242-4242"), "****-****-****-4242");
        assert_eq!(mask("my card is 4242424242424242."), "my card is ************4242.");
        // Amex, 15 digits in 4-6-5 groups.
        assert_eq!(mask("378282246310005"), "***********0005");
        assert_eq!(mask("3782 822463 10005"), "**** ****** *0005");
    }

    #[test]
    fn leaves_everything_else_alone() {
        // 16 digits failing the Luhn check.
        assert_eq!(mask_card_numbers("4242 4242 4242 4241"), None);
        assert_eq!(mask_card_numbers("call 555-123-4567"), None);
        assert_eq!(mask_card_numbers("order 123456789012"), None);
        // Two separators in a row break the number up.
        assert_eq!(mask_card_numbers("4242  4242  4242  4242"), None);
        // Twenty digits in one run are not a card number.
        assert_eq!(mask_card_numbers("42424242424242424242"), None);
    }

    #[test]
    fn finds_a_card_among_other_digit_groups() {
        assert_eq!(mask("4242 4242 4242 4242 1234"), "**** **** **** 4242 1234");
        assert_eq!(mask("12 4242 4242 4242 4242"), "12 **** **** **** 4242");
        assert_eq!(mask("a 4242424242424242 and 5555555555554444"), "a ************4242 and ************4444");
    }

    #[test]
    fn many_short_groups_stay_fast() {
        let text = "1 ".repeat(2048);
        let started = std::time::Instant::now();
        assert_eq!(mask_card_numbers(&text), None);
        assert!(started.elapsed().as_millis() < 500);
    }

    #[test]
    fn masks_readable_fields_only() {
        let mut content = json!({
            "type": "carousel",
            "text": "pay with 4242424242424242",
            "items": [{"title": "4242 4242 4242 4242", "actions": [{"type": "postback", "text": "x", "payload": "4242424242424242"}],
                       "metadata": {"card": "4242424242424242"}}]
        });
        mask_in_content(&mut content);
        assert_eq!(content["text"], "pay with ************4242");
        assert_eq!(content["items"][0]["title"], "**** **** **** 4242");
        assert_eq!(content["items"][0]["actions"][0]["payload"], "4242424242424242");
        assert_eq!(content["items"][0]["metadata"]["card"], "4242424242424242");
    }
}

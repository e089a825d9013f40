//! Cursor pagination: `page[after]`, `page[before]`, `page[size]`.

use super::error::DomainError;
use super::ids::is_id;

pub const DEFAULT_PAGE_SIZE: i64 = 25;
pub const MAX_PAGE_SIZE: i64 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// The first page (or, for messages, the newest).
    Start,
    After(String),
    Before(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub cursor: Cursor,
    pub size: i64,
}

fn invalid() -> DomainError {
    DomainError::invalid("Invalid page query parameters")
}

impl PageRequest {
    pub fn parse(after: Option<&str>, before: Option<&str>, size: Option<&str>) -> Result<PageRequest, DomainError> {
        let size = match size {
            None => DEFAULT_PAGE_SIZE,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => return Err(invalid()),
            },
        };
        let cursor = match (after, before) {
            (Some(_), Some(_)) => return Err(invalid()),
            (Some(a), None) if is_id(a) => Cursor::After(a.to_string()),
            (None, Some(b)) if is_id(b) => Cursor::Before(b.to_string()),
            (None, None) => Cursor::Start,
            _ => return Err(invalid()),
        };
        Ok(PageRequest { cursor, size })
    }
}

/// One page of results, in ascending order, with what lies beyond it.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// More items exist in the direction being paged.
    pub has_more: bool,
    /// Cursor for the page after this one, if any item follows it.
    pub after_cursor: Option<String>,
    /// Cursor for the page before this one, if any item precedes it.
    pub before_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from rows fetched one beyond `size` in the direction of travel.
    /// `rows` are in ascending order; for `Before` the extra row is at the front.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, id: impl Fn(&T) -> String) -> Page<T> {
        let size = request.size as usize;
        let over = rows.len() > size;
        match request.cursor {
            Cursor::Before(_) => {
                if over {
                    rows.drain(..rows.len() - size);
                }
                let first = rows.first().map(&id);
                let last = rows.last().map(&id);
                Page { has_more: over, before_cursor: if over { first } else { None }, after_cursor: last, items: rows }
            }
            Cursor::After(_) => {
                rows.truncate(size);
                let first = rows.first().map(&id);
                let last = rows.last().map(&id);
                Page { has_more: over, after_cursor: if over { last } else { None }, before_cursor: first, items: rows }
            }
            Cursor::Start => {
                rows.truncate(size);
                let last = rows.last().map(&id);
                Page { has_more: over, after_cursor: if over { last } else { None }, before_cursor: None, items: rows }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0123456789abcdef01234567";

    #[test]
    fn parses_and_refuses() {
        assert_eq!(PageRequest::parse(None, None, None).unwrap(), PageRequest { cursor: Cursor::Start, size: 25 });
        assert_eq!(PageRequest::parse(Some(A), None, Some("5")).unwrap().cursor, Cursor::After(A.into()));
        assert!(PageRequest::parse(Some(A), Some(A), None).is_err());
        assert!(PageRequest::parse(None, None, Some("0")).is_err());
        assert!(PageRequest::parse(None, None, Some("101")).is_err());
        assert!(PageRequest::parse(Some("short"), None, None).is_err());
    }

    #[test]
    fn pages_know_what_lies_beyond() {
        let req = PageRequest { cursor: Cursor::Start, size: 2 };
        let p = Page::from_rows(vec![1, 2, 3], &req, |n| n.to_string());
        assert_eq!((p.items.clone(), p.has_more, p.after_cursor.clone()), (vec![1, 2], true, Some("2".into())));
        let req = PageRequest { cursor: Cursor::Before(A.into()), size: 2 };
        let p = Page::from_rows(vec![1, 2, 3], &req, |n| n.to_string());
        assert_eq!((p.items, p.has_more, p.before_cursor), (vec![2, 3], true, Some("2".into())));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn a_size_is_accepted_exactly_when_it_is_1_to_100(n in -1000i64..1000) {
                let got = PageRequest::parse(None, None, Some(&n.to_string()));
                prop_assert_eq!(got.is_ok(), (1..=MAX_PAGE_SIZE).contains(&n));
            }

            #[test]
            fn a_cursor_is_accepted_exactly_when_it_is_an_id(c in "[0-9a-fA-F]{20,28}|\\PC{0,30}") {
                prop_assert_eq!(PageRequest::parse(Some(&c), None, None).is_ok(), is_id(&c));
                prop_assert_eq!(PageRequest::parse(None, Some(&c), None).is_ok(), is_id(&c));
                prop_assert!(PageRequest::parse(Some(&c), Some(&c), None).is_err());
            }
        }
    }
}

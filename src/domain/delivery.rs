//! The rules of webhook delivery that need no I/O: which due deliveries a claim takes
//! (the planner), where a delivery goes after an attempt, and the circuit that parks a
//! failing target. The store runs them inside its transactions; `events` decides verdicts.

use std::collections::HashMap;

/// What a claim may take.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub owner: String,
    pub now: i64,
    pub lease_ms: i64,
    /// At most this many batches (requests) in all.
    pub limit: i64,
    /// Batches (requests) this node is sending now, per webhook.
    pub in_flight: HashMap<String, usize>,
    /// At most this many batches in flight per webhook on this node…
    pub per_target: usize,
    /// …of at most this many deliveries each…
    pub max_batch: usize,
    /// …and one batch of one delivery (a probe) while the webhook has failed this many
    /// times in a row.
    pub circuit_threshold: i64,
}


/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry { at: i64 },
    Failed,
}


#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
    Neutral,
}

/// How long a webhook is parked after `failures` failures in a row (the circuit).
#[derive(Debug, Clone, Copy)]
pub struct CircuitPolicy {
    pub threshold: i64,
    pub park_ms: i64,
    pub max_park_ms: i64,
}

impl CircuitPolicy {
    pub fn park_for(&self, failures: i64) -> Option<i64> {
        if failures < self.threshold {
            return None;
        }
        let doublings = (failures - self.threshold).min(20) as u32;
        Some(self.park_ms.saturating_mul(1i64 << doublings).min(self.max_park_ms))
    }
}


/// A claim candidate: id, webhook_id, order_key, event_seq, the webhook's consecutive
/// failures, and the id and state of the delivery before it in its line.
pub type Candidate = (i64, String, Option<String>, i64, Option<i64>, Option<i64>, Option<String>);

/// A batch chosen by a claim: per line, its run of delivery ids in event order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub webhook_id: String,
    pub runs: Vec<Vec<i64>>,
}

impl Planned {
    pub fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }

    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.runs.iter().flatten().copied()
    }
}


/// Chooses what to lease from `candidates` (oldest due first): per line, the run of
/// consecutive deliveries that starts at the line's oldest pending one; lines fill their
/// webhook's batches in the order they first appear, and a line goes into one batch (its
/// run cut to what fits). Also says whether more could have been taken from more
/// candidates: room left in the request limit and, for a webhook seen, in its batches.
pub fn plan_batches(candidates: &[Candidate], req: &ClaimRequest, max_batch: usize) -> (Vec<Planned>, bool) {
    // Lines in order of first appearance; a delivery without an order key is a line alone.
    let mut lines: Vec<(&str, i64, Vec<&Candidate>)> = Vec::new();
    let mut by_key: HashMap<(&str, &str), usize> = HashMap::new();
    for c in candidates {
        match c.2.as_deref() {
            Some(key) => match by_key.get(&(c.1.as_str(), key)) {
                Some(&i) => lines[i].2.push(c),
                None => {
                    by_key.insert((c.1.as_str(), key), lines.len());
                    lines.push((c.1.as_str(), c.4.unwrap_or(0), vec![c]));
                }
            },
            None => lines.push((c.1.as_str(), c.4.unwrap_or(0), vec![c])),
        }
    }
    let mut batches: Vec<Planned> = Vec::new();
    // Per webhook: its batch being filled, how many more it may open, its batch size.
    let mut webhooks: HashMap<&str, (Option<usize>, usize, usize)> = HashMap::new();
    for (webhook_id, failures, mut line) in lines {
        line.sort_by_key(|c| c.3);
        // The run: the first must follow a finished delivery (or none), each next one the
        // one before it.
        let mut run: Vec<i64> = Vec::new();
        for c in &line {
            let follows = match run.last() {
                None => c.5.is_none() || c.6.as_deref() != Some("pending"),
                Some(prev) => c.5 == Some(*prev),
            };
            if !follows {
                break;
            }
            run.push(c.0);
        }
        let state = webhooks.entry(webhook_id).or_insert_with(|| {
            let busy = req.in_flight.get(webhook_id).copied().unwrap_or(0);
            if failures >= req.circuit_threshold {
                // A tripped circuit: one probe of one delivery, when nothing is out.
                (None, usize::from(busy == 0), 1)
            } else {
                (None, req.per_target.saturating_sub(busy), max_batch)
            }
        });
        if run.is_empty() {
            continue;
        }
        let open = match state.0 {
            Some(i) if batches[i].len() < state.2 => Some(i),
            _ if state.1 > 0 && (batches.len() as i64) < req.limit => {
                state.1 -= 1;
                batches.push(Planned { webhook_id: webhook_id.to_string(), runs: Vec::new() });
                state.0 = Some(batches.len() - 1);
                state.0
            }
            _ => None,
        };
        if let Some(i) = open {
            let room = state.2 - batches[i].len();
            batches[i].runs.push(run.into_iter().take(room).collect());
        }
    }
    let room_left = (batches.len() as i64) < req.limit
        && webhooks.values().any(|(open, more, size)| *more > 0 || open.is_some_and(|i| batches[i].len() < *size));
    (batches, room_left)
}


#[cfg(test)]
mod tests {
    use super::*;

    fn req(limit: i64, per_target: usize, in_flight: &[(&str, usize)]) -> ClaimRequest {
        ClaimRequest {
            owner: "n".into(),
            now: 0,
            lease_ms: 1,
            limit,
            in_flight: in_flight.iter().map(|(w, n)| (w.to_string(), *n)).collect(),
            per_target,
            max_batch: 3,
            circuit_threshold: 10,
        }
    }

    fn flat(batches: &[Planned]) -> Vec<(&str, Vec<i64>)> {
        batches.iter().map(|b| (b.webhook_id.as_str(), b.ids().collect())).collect()
    }

    /// (id, webhook, key, seq, prev id, prev state)
    fn cand(id: i64, w: &str, key: Option<&str>, seq: i64, prev: Option<(i64, &str)>) -> Candidate {
        (id, w.into(), key.map(str::to_string), seq, None, prev.map(|p| p.0), prev.map(|p| p.1.to_string()))
    }

    #[test]
    fn a_line_goes_in_one_batch_from_its_oldest_pending_delivery_in_order() {
        let cands = vec![
            cand(3, "w", Some("c:a"), 30, Some((2, "pending"))), // after 2, which is not a candidate
            cand(10, "w", Some("c:b"), 11, Some((9, "delivered"))),
            cand(12, "w", Some("c:b"), 13, Some((10, "pending"))),
            cand(11, "w", Some("c:c"), 12, None),
            cand(14, "w", Some("c:b"), 15, Some((12, "pending"))),
            cand(15, "w", Some("c:b"), 16, Some((14, "pending"))),
            cand(16, "w", None, 17, None),
        ];
        let (batches, room_left) = plan_batches(&cands, &req(10, 4, &[]), 3);
        // b's run (10, 12, 14, 15) is cut to the batch size; c and the unordered one fill the next.
        assert_eq!(flat(&batches), vec![("w", vec![10, 12, 14]), ("w", vec![11, 16])]);
        assert_eq!(batches[1].runs, vec![vec![11], vec![16]], "one run per line");
        assert!(room_left);
    }

    #[test]
    fn a_run_stops_at_a_gap_and_webhooks_keep_to_their_room() {
        let cands = vec![
            cand(1, "w", Some("c:a"), 1, None),
            cand(3, "w", Some("c:a"), 3, Some((2, "pending"))), // 2 is in flight: a gap
            cand(4, "x", Some("c:a"), 4, None),
            cand(5, "x", Some("c:b"), 5, None),
            cand(6, "y", Some("c:a"), 6, None),
        ];
        // w has 3 of 4 requests out, x all 4; the limit allows two batches in all.
        let (batches, room_left) = plan_batches(&cands, &req(2, 4, &[("w", 3), ("x", 4)]), 3);
        assert_eq!(flat(&batches), vec![("w", vec![1]), ("y", vec![6])]);
        assert!(!room_left, "the limit is reached");
    }

    #[test]
    fn a_tripped_circuit_sends_one_delivery_when_nothing_is_out() {
        let mut tripped = cand(1, "w", Some("c:a"), 1, None);
        tripped.4 = Some(10);
        let mut next = cand(2, "w", Some("c:a"), 2, Some((1, "pending")));
        next.4 = Some(10);
        let (batches, _) = plan_batches(&[tripped.clone(), next.clone()], &req(10, 4, &[]), 3);
        assert_eq!(flat(&batches), vec![("w", vec![1])]);
        let (batches, _) = plan_batches(&[tripped, next], &req(10, 4, &[("w", 1)]), 3);
        assert!(batches.is_empty());
    }
}

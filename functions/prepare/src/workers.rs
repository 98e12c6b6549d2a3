//! Which worker runs an execution's steps.
//!
//! A deployment names either one instance (`worker/instance-id`) or a pool
//! (`worker/tag`, `KEY=VALUE`: every SSM managed instance with that tag whose SSM agent
//! is online). From a pool, `prepare` takes the worker with the fewest of our commands
//! pending or in progress (a step waiting for a slot counts: it is queued there), ties
//! broken by a hash of the execution name and the instance, so that a burst of uploads
//! prepared before any command was sent still spreads evenly. Every step of an execution
//! then runs on that instance: its work folder is there.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use aws_sdk_ssm::types::{CommandFilter, CommandFilterKey, InstanceInformationStringFilter};
use bak2pg::job::{ErrorClass, ErrorCode, StepError};
use bak2pg_aws::AwsError;

/// How the configuration names the workers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `worker/instance-id`: this instance, whatever SSM says of it (a stopped worker is
    /// waited for by the state machine's retries).
    Instance(String),
    /// `worker/tag` `KEY=VALUE`: the online managed instances tagged so.
    Tag {
        /// Tag key (`bak2pg:worker`).
        key: String,
        /// Tag value (the stack's name).
        value: String,
    },
}

/// The selector the configuration gives: exactly one of `worker/instance-id` and
/// `worker/tag`.
///
/// # Errors
/// Neither or both set, or a tag without `=` (permanent `config` errors naming the
/// parameters under `path`).
pub fn selector(config: &BTreeMap<String, String>, path: &str) -> Result<Selector, StepError> {
    let err = |m: String| StepError::permanent(ErrorCode::Config, m);
    match (config.get("worker/instance-id"), config.get("worker/tag")) {
        (Some(id), None) => Ok(Selector::Instance(id.clone())),
        (None, Some(tag)) => match tag.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                Ok(Selector::Tag { key: k.to_string(), value: v.to_string() })
            }
            _ => Err(err(format!("SSM parameter {path}worker/tag is {tag:?}, not KEY=VALUE"))),
        },
        (Some(_), Some(_)) => Err(err(format!(
            "SSM parameters {path}worker/instance-id and {path}worker/tag are both set: name one worker or a pool"
        ))),
        (None, None) => Err(err(format!("SSM parameter {path}worker/tag (or {path}worker/instance-id) is missing"))),
    }
}

/// The managed instances tagged `key=value` whose SSM agent is online
/// (DescribeInstanceInformation, filters `tag:KEY` and `PingStatus`), sorted.
///
/// # Errors
/// SSM failures, classified (throttling and outages transient).
pub async fn online(ssm: &aws_sdk_ssm::Client, key: &str, value: &str) -> Result<Vec<String>, AwsError> {
    let build = |k: String, v: &str| {
        InstanceInformationStringFilter::builder().key(k).values(v).build().map_err(|e| {
            AwsError::new(ErrorClass::Permanent, ErrorCode::Config, "DescribeInstanceInformation", e.to_string())
        })
    };
    let filters = [build(format!("tag:{key}"), value)?, build("PingStatus".into(), "Online")?];
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let call = ssm.describe_instance_information().set_next_token(token).set_filters(Some(filters.to_vec()));
        let page = call.send().await.map_err(|e| {
            AwsError::from_sdk(ErrorCode::WorkerLookup, format!("DescribeInstanceInformation tag:{key}={value}"), &e)
        })?;
        out.extend(page.instance_information_list().iter().filter_map(|i| i.instance_id().map(str::to_string)));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Per instance, how many invocations of `document` are pending or in progress
/// (ListCommandInvocations, filters `DocumentName` and `Status`).
///
/// # Errors
/// SSM failures, classified.
pub async fn busy(ssm: &aws_sdk_ssm::Client, document: &str) -> Result<BTreeMap<String, usize>, AwsError> {
    let mut out = BTreeMap::new();
    for status in ["Pending", "InProgress"] {
        let mut token = None;
        loop {
            let filter = |k: CommandFilterKey, v: &str| {
                CommandFilter::builder().key(k).value(v).build().map_err(|e| {
                    AwsError::new(ErrorClass::Permanent, ErrorCode::Config, "ListCommandInvocations", e.to_string())
                })
            };
            let (a, b) = (filter(CommandFilterKey::DocumentName, document)?, filter(CommandFilterKey::Status, status)?);
            let page =
                ssm.list_command_invocations().filters(a).filters(b).set_next_token(token).send().await.map_err(
                    |e| AwsError::from_sdk(ErrorCode::WorkerLookup, format!("ListCommandInvocations {status}"), &e),
                )?;
            for inv in page.command_invocations() {
                if let Some(id) = inv.instance_id() {
                    *out.entry(id.to_string()).or_insert(0) += 1;
                }
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

/// The least busy of `online` (absent from `busy`: idle); among equals, the one whose
/// hash with `execution` is lowest (rendezvous hashing: a stable, even spread of
/// executions that see the same counts). `None` when `online` is empty.
pub fn choose<'a>(online: &'a [String], busy: &BTreeMap<String, usize>, execution: &str) -> Option<&'a str> {
    let rank = |id: &String| {
        let mut h = DefaultHasher::new();
        (execution, id.as_str()).hash(&mut h);
        (busy.get(id).copied().unwrap_or(0), h.finish())
    };
    online.iter().min_by_key(|id| rank(id)).map(String::as_str)
}

/// The error when a pool has no online worker: transient (one may come back; the state
/// machine retries prepare, then the execution fails to the dead-letter queue).
pub fn no_worker(key: &str, value: &str) -> StepError {
    StepError::transient(
        ErrorCode::WorkerLookup,
        format!("no managed instance tagged {key}={value} is online in SSM: start a worker (README, Adding a worker)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn one_instance_or_one_tag() {
        let s = selector(&cfg(&[("worker/instance-id", "i-1")]), "/p/").unwrap();
        assert_eq!(s, Selector::Instance("i-1".into()));
        let s = selector(&cfg(&[("worker/tag", "bak2pg:worker=prod")]), "/p/").unwrap();
        assert_eq!(s, Selector::Tag { key: "bak2pg:worker".into(), value: "prod".into() });
        for bad in [
            cfg(&[]),
            cfg(&[("worker/tag", "novalue")]),
            cfg(&[("worker/tag", "=x")]),
            cfg(&[("worker/instance-id", "i-1"), ("worker/tag", "a=b")]),
        ] {
            let e = selector(&bad, "/p/").unwrap_err();
            assert_eq!(e.code, ErrorCode::Config);
            assert!(e.message.contains("/p/worker/"), "{}", e.message);
        }
    }

    #[test]
    fn the_least_busy_worker_is_chosen() {
        let online = vec!["i-a".to_string(), "i-b".to_string(), "i-c".to_string()];
        let busy: BTreeMap<String, usize> = [("i-a".to_string(), 2), ("i-b".to_string(), 1)].into();
        for e in ["x", "y", "z"] {
            assert_eq!(choose(&online, &busy, e), Some("i-c"));
        }
        let busy: BTreeMap<String, usize> = [("i-a".to_string(), 2), ("i-c".to_string(), 3)].into();
        assert_eq!(choose(&online, &busy, "x"), Some("i-b"));
        assert_eq!(choose(&[], &busy, "x"), None);
    }

    #[test]
    fn equally_busy_workers_share_a_burst_evenly_and_stably() {
        let online: Vec<String> = (0..3).map(|i| format!("i-{i}")).collect();
        let mut counts = BTreeMap::new();
        for n in 0..300 {
            let e = format!("tenant{n}-20261207T010203Z-0a1b");
            let first = choose(&online, &BTreeMap::new(), &e).unwrap();
            assert_eq!(choose(&online, &BTreeMap::new(), &e), Some(first), "the choice is stable");
            *counts.entry(first.to_string()).or_insert(0) += 1;
        }
        assert_eq!(counts.len(), 3);
        for (id, c) in counts {
            assert!((70..=130).contains(&c), "{id} got {c} of 300");
        }
    }
}

//! Online consumers by group (from HEART_BEAT): channels, client ids and subscriptions.
//! Drives SUBSCRIPTION lookups on pulls, rebalancing lists and NOTIFY_CONSUMER_IDS_CHANGED.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use mq_common::filter::{FilterError, MessageFilter};
use mq_common::protocol::body::SubscriptionData;
use mq_common::protocol::codes::request;
use mq_common::protocol::header::ConsumerGroupRequestHeader;
use mq_common::protocol::RemotingCommand;

use crate::client_link::ClientLink;

/// One registered client connection.
#[derive(Clone)]
pub struct ClientChannel {
    /// How to reach the client (remoting connection or gRPC session).
    pub channel: ClientLink,
    /// `clientID` from the heartbeat.
    pub client_id: String,
    /// Client language (request header).
    pub language: String,
    /// Client version (request header).
    pub version: i32,
    /// Last heartbeat, ms.
    pub last_update: i64,
}

/// A registered subscription and its filter, compiled once per expression (a heartbeat that
/// repeats the same expression keeps the compiled filter). A refused expression is kept with
/// its error: pulls then answer FILTER_DATA_NOT_EXIST with it, as Java's broker does.
#[derive(Debug)]
pub struct Subscription {
    /// What the client sent (normalised).
    pub data: SubscriptionData,
    /// The compiled filter, or why the expression was refused.
    pub filter: Result<MessageFilter, FilterError>,
}

impl Subscription {
    /// Compile `data`'s filter.
    pub fn new(data: SubscriptionData) -> Self {
        let filter = MessageFilter::compile(&data);
        Subscription { data, filter }
    }
}

impl std::ops::Deref for Subscription {
    type Target = SubscriptionData;
    fn deref(&self) -> &SubscriptionData {
        &self.data
    }
}

/// A consumer group's online state.
#[derive(Default)]
pub struct ConsumerGroup {
    /// Channel id → client.
    pub channels: HashMap<u64, ClientChannel>,
    /// Topic → subscription (latest heartbeat wins).
    pub subscriptions: HashMap<String, Arc<Subscription>>,
    /// CONSUME_ACTIVELY / CONSUME_PASSIVELY.
    pub consume_type: String,
    /// CLUSTERING / BROADCASTING.
    pub message_model: String,
    /// CONSUME_FROM_*.
    pub consume_from_where: String,
}

/// Registry of online consumers.
#[derive(Default)]
pub struct ConsumerManager {
    groups: DashMap<String, ConsumerGroup>,
}

/// What a registration changed.
#[derive(Debug, Default, Clone, Copy)]
pub struct RegisterOutcome {
    /// A new channel joined the group.
    pub channel_added: bool,
    /// The subscription set changed.
    pub subscriptions_changed: bool,
}

impl ConsumerManager {
    /// Register or refresh a consumer from a heartbeat.
    pub fn register(
        &self,
        group: &str,
        client: ClientChannel,
        consume_type: &str,
        message_model: &str,
        consume_from_where: &str,
        subs: Vec<SubscriptionData>,
    ) -> RegisterOutcome {
        let mut g = self.groups.entry(group.to_string()).or_default();
        let mut out = RegisterOutcome::default();
        let id = client.channel.id();
        match g.channels.get_mut(&id) {
            Some(existing) => {
                existing.last_update = client.last_update;
                existing.client_id = client.client_id;
            }
            None => {
                g.channels.insert(id, client);
                out.channel_added = true;
            }
        }
        g.consume_type = consume_type.to_string();
        g.message_model = message_model.to_string();
        g.consume_from_where = consume_from_where.to_string();
        // Java updates per topic: new or changed expressions replace, topics no longer sent
        // are dropped.
        let mut new_map: HashMap<String, Arc<Subscription>> = HashMap::with_capacity(subs.len());
        for s in subs {
            let changed = match g.subscriptions.get(&s.topic) {
                Some(old) => {
                    old.sub_string != s.sub_string || old.expression_type != s.expression_type
                }
                None => true,
            };
            if changed {
                out.subscriptions_changed = true;
                new_map.insert(s.topic.clone(), Arc::new(Subscription::new(s)));
            } else if let Some(old) = g.subscriptions.get(&s.topic) {
                // Keep the newer version number so SUBSCRIPTION_NOT_LATEST checks pass; the
                // expression is the same, so is its compiled filter.
                if old.sub_version < s.sub_version {
                    let filter = old.filter.clone();
                    new_map.insert(s.topic.clone(), Arc::new(Subscription { data: s, filter }));
                } else {
                    new_map.insert(s.topic.clone(), old.clone());
                }
            }
        }
        if new_map.len() != g.subscriptions.len() {
            out.subscriptions_changed = true;
        }
        g.subscriptions = new_map;
        out
    }

    /// Remove a channel from a group; true if it was there.
    pub fn unregister(&self, group: &str, channel_id: u64) -> bool {
        let removed = match self.groups.get_mut(group) {
            Some(mut g) => g.channels.remove(&channel_id).is_some(),
            None => false,
        };
        self.groups.remove_if(group, |_, g| g.channels.is_empty());
        removed
    }

    /// Remove a channel from every group; returns the groups it left.
    pub fn remove_channel(&self, channel_id: u64) -> Vec<String> {
        let mut left = Vec::new();
        for mut g in self.groups.iter_mut() {
            if g.channels.remove(&channel_id).is_some() {
                left.push(g.key().clone());
            }
        }
        for name in &left {
            self.groups.remove_if(name, |_, g| g.channels.is_empty());
        }
        left
    }

    /// Channels not refreshed since `deadline` (ms): (group, channel).
    pub fn expired(&self, deadline: i64) -> Vec<(String, ClientLink)> {
        let mut out = Vec::new();
        for g in self.groups.iter() {
            for c in g.channels.values() {
                if c.last_update < deadline {
                    out.push((g.key().clone(), c.channel.clone()));
                }
            }
        }
        out
    }

    /// The group's subscription for a topic.
    pub fn subscription(&self, group: &str, topic: &str) -> Option<Arc<Subscription>> {
        self.groups.get(group).and_then(|g| g.subscriptions.get(topic).cloned())
    }

    /// True if the group has online members.
    pub fn is_online(&self, group: &str) -> bool {
        self.groups.get(group).map(|g| !g.channels.is_empty()).unwrap_or(false)
    }

    /// Client ids of a group, sorted.
    pub fn client_ids(&self, group: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .groups
            .get(group)
            .map(|g| g.channels.values().map(|c| c.client_id.clone()).collect())
            .unwrap_or_default();
        v.sort();
        v.dedup();
        v
    }

    /// Channels of a group.
    pub fn channels(&self, group: &str) -> Vec<ClientChannel> {
        self.groups.get(group).map(|g| g.channels.values().cloned().collect()).unwrap_or_default()
    }

    /// Run `f` on the group's state.
    pub fn with_group<R>(&self, group: &str, f: impl FnOnce(&ConsumerGroup) -> R) -> Option<R> {
        self.groups.get(group).map(|g| f(&g))
    }

    /// Groups subscribed to a topic.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.groups
            .iter()
            .filter(|g| g.subscriptions.contains_key(topic))
            .map(|g| g.key().clone())
            .collect()
    }

    /// All online group names.
    pub fn group_names(&self) -> Vec<String> {
        self.groups.iter().map(|g| g.key().clone()).collect()
    }

    /// Tell every member of `group` to rebalance (oneway NOTIFY_CONSUMER_IDS_CHANGED).
    pub fn notify_ids_changed(&self, group: &str) {
        let header = ConsumerGroupRequestHeader { consumer_group: group.to_string() };
        for c in self.channels(group) {
            let cmd =
                RemotingCommand::request_with_header(request::NOTIFY_CONSUMER_IDS_CHANGED, &header);
            c.channel.send_oneway(cmd);
        }
    }
}

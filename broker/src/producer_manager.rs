//! Online producers by group (from HEART_BEAT): used for GET_PRODUCER_CONNECTION_LIST and to
//! find a channel for CHECK_TRANSACTION_STATE.

use std::collections::HashMap;

use dashmap::DashMap;

use crate::consumer_manager::ClientChannel;

/// Registry of online producers.
#[derive(Default)]
pub struct ProducerManager {
    groups: DashMap<String, HashMap<u64, ClientChannel>>,
}

impl ProducerManager {
    /// Register or refresh.
    pub fn register(&self, group: &str, client: ClientChannel) {
        self.groups.entry(group.to_string()).or_default().insert(client.channel.id(), client);
    }

    /// Remove a channel from a group.
    pub fn unregister(&self, group: &str, channel_id: u64) {
        if let Some(mut g) = self.groups.get_mut(group) {
            g.remove(&channel_id);
        }
        self.groups.remove_if(group, |_, g| g.is_empty());
    }

    /// Remove a channel everywhere.
    pub fn remove_channel(&self, channel_id: u64) {
        for mut g in self.groups.iter_mut() {
            g.remove(&channel_id);
        }
        self.groups.retain(|_, g| !g.is_empty());
    }

    /// Expired channels: (group, channel id).
    pub fn expire(&self, deadline: i64) -> usize {
        let mut n = 0;
        for mut g in self.groups.iter_mut() {
            g.retain(|_, c| {
                let keep = c.last_update >= deadline;
                if !keep {
                    n += 1;
                }
                keep
            });
        }
        self.groups.retain(|_, g| !g.is_empty());
        n
    }

    /// Every registered producer connection (for the metrics scrape).
    pub fn all_channels(&self) -> Vec<ClientChannel> {
        self.groups.iter().flat_map(|g| g.values().cloned().collect::<Vec<_>>()).collect()
    }

    /// Members of a group.
    pub fn channels(&self, group: &str) -> Vec<ClientChannel> {
        self.groups.get(group).map(|g| g.values().cloned().collect()).unwrap_or_default()
    }

    /// The live channel of a client id, in any group (request-reply pushes).
    pub fn find_client(&self, client_id: &str) -> Option<ClientChannel> {
        self.groups.iter().find_map(|g| {
            g.values().find(|c| c.client_id == client_id && !c.channel.is_closed()).cloned()
        })
    }

    /// Any live channel of the group.
    pub fn any_channel(&self, group: &str) -> Option<ClientChannel> {
        self.groups.get(group).and_then(|g| g.values().find(|c| !c.channel.is_closed()).cloned())
    }
}

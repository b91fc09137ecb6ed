//! The in-memory twin of the pin store.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{ObservedTool, Pin, PinChange, PinStatus, PinStore, approved, plan_observation};
use crate::StoreFuture;

/// Pins kept in process memory.
///
/// For tests and throwaway gateways: lost on drop, not shared between instances.
/// Default: empty.
#[derive(Default)]
pub struct MemoryPins {
    /// By (server, tool).
    pins: Mutex<BTreeMap<(String, String), Pin>>,
}

impl fmt::Debug for MemoryPins {
    /// Does not take the lock, and prints no pins.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryPins").finish_non_exhaustive()
    }
}

impl MemoryPins {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), Pin>> {
        // Every operation plans, then writes whole records under the lock, so a panic
        // elsewhere cannot leave a record half-updated.
        self.pins.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The pins of `server`, by tool.
fn of_server(pins: &BTreeMap<(String, String), Pin>, server: &str) -> BTreeMap<String, Pin> {
    pins.range((server.to_owned(), String::new())..)
        .take_while(|((s, _), _)| s == server)
        .map(|((_, tool), pin)| (tool.clone(), pin.clone()))
        .collect()
}

impl PinStore for MemoryPins {
    fn observe<'a>(
        &'a self,
        server: &'a str,
        tools: &'a [ObservedTool],
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<PinChange>> {
        Box::pin(async move {
            let mut pins = self.lock();
            let stored = of_server(&pins, server);
            let first_use = stored.is_empty();
            let plan = plan_observation(server, stored, first_use, tools, now_ms);
            for pin in plan.writes {
                pins.insert((pin.server.clone(), pin.tool.clone()), pin);
            }
            Ok(plan.changes)
        })
    }

    fn approve<'a>(
        &'a self,
        server: &'a str,
        tool: &'a str,
        by: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Option<Pin>> {
        Box::pin(async move {
            let mut pins = self.lock();
            let key = (server.to_owned(), tool.to_owned());
            let Some(pin) = pins.get_mut(&key) else {
                return Ok(None);
            };
            let Some(next) = approved(pin, by, now_ms) else {
                return Ok(None);
            };
            *pin = next.clone();
            Ok(Some(next))
        })
    }

    fn approve_all<'a>(
        &'a self,
        server: &'a str,
        by: &'a str,
        now_ms: u64,
    ) -> StoreFuture<'a, Vec<Pin>> {
        Box::pin(async move {
            let mut pins = self.lock();
            let mut out = Vec::new();
            for (_, pin) in pins
                .range_mut((server.to_owned(), String::new())..)
                .take_while(|((s, _), _)| s == server)
            {
                if pin.status == PinStatus::Pending
                    && let Some(next) = approved(pin, by, now_ms)
                {
                    *pin = next.clone();
                    out.push(next);
                }
            }
            Ok(out)
        })
    }

    fn list<'a>(&'a self, server: Option<&'a str>) -> StoreFuture<'a, Vec<Pin>> {
        Box::pin(async move {
            let pins = self.lock();
            Ok(match server {
                Some(server) => of_server(&pins, server).into_values().collect(),
                None => pins.values().cloned().collect(),
            })
        })
    }

    fn get<'a>(&'a self, server: &'a str, tool: &'a str) -> StoreFuture<'a, Option<Pin>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .get(&(server.to_owned(), tool.to_owned()))
                .cloned())
        })
    }
}

//! `clock_skew`: from `at` on, the hosts read `t + offset + drift × (t −
//! at)` for global time `t` (no heal).

use node_logic::HostId;
use sim_core::engine::{ClockSkew, FaultAction};
use sim_core::scenario::{self, ErrorKind, FaultEntry, FaultKeys, Hosts};
use sim_core::units::SimTime;

use super::{FaultContext, FaultEffects, FaultKind, RealEffect};
use crate::protocols::Protocols;

/// A clock-skew fault.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockSkewFault {
    /// The hosts whose clocks are skewed.
    pub hosts: Vec<HostId>,
    /// Constant offset in nanoseconds (may be negative).
    pub offset_ns: i64,
    /// Rate error: 0.001 means the clock gains 1 ms per second.
    pub drift: f64,
}

impl FaultKind for ClockSkewFault {
    const KEYS: FaultKeys = FaultKeys {
        key: "clock_skew",
        name: "clock-skew",
        options: &["offset", "drift"],
        ends_with: None,
    };
    const SAMPLE: &'static str = r#"at = "10 s"
clock_skew = "validator-0"
offset = "2 s""#;

    fn parse(entry: &FaultEntry<'_>, hosts: &Hosts<'_>, _: &Protocols) -> scenario::Result<Self> {
        let table = &entry.table;
        let hosts = hosts.index.resolve(&entry.field)?;
        let offset = table.get("offset");
        let drift = table.get("drift");
        if offset.is_none() && drift.is_none() {
            return Err(table
                .error(
                    ErrorKind::MissingKey,
                    "a clock_skew fault needs `offset`, `drift` or both",
                )
                .with_help("add e.g. `offset = \"2 s\"` or `drift = 0.001`"));
        }
        let offset_ns = offset.map(|f| f.signed_nanos()).transpose()?.unwrap_or(0);
        let drift = match drift {
            Some(f) => {
                let d = f.f64()?;
                if d.abs() >= 1.0 {
                    return Err(f
                        .invalid(format!("`drift` must be between -1 and 1, found {d}"))
                        .with_help(
                            "drift is a rate error: 0.001 means the clock gains 1 ms per second",
                        ));
                }
                d
            }
            None => 0.0,
        };
        if offset_ns == 0 && drift == 0.0 {
            let field = table.get("offset").or_else(|| table.get("drift"));
            let message = "this clock_skew has no offset and no drift: the clocks would stay right";
            let err = match field {
                Some(f) => f.invalid(message),
                None => table.error(ErrorKind::InvalidValue, message),
            };
            return Err(
                err.with_help("give a non-zero `offset` (e.g. \"2 s\") or `drift` (e.g. 0.001)")
            );
        }
        Ok(ClockSkewFault {
            hosts,
            offset_ns,
            drift,
        })
    }
}

impl FaultEffects for ClockSkewFault {
    fn hosts(&self, _cx: &FaultContext<'_>) -> Vec<HostId> {
        self.hosts.clone()
    }
    fn heal(&self) -> Option<SimTime> {
        None
    }
    fn over(&self, at: SimTime) -> Option<SimTime> {
        Some(at)
    }
    fn action(&self, _cx: &FaultContext<'_>) -> FaultAction {
        FaultAction::ClockSkew {
            hosts: self.hosts.clone(),
            offset_ns: self.offset_ns,
            drift: self.drift,
        }
    }
    fn real(&self, cx: &FaultContext<'_>) -> RealEffect {
        RealEffect::ClockSkew {
            hosts: self.hosts.clone(),
            skew: ClockSkew {
                since: cx.at,
                offset_ns: self.offset_ns,
                drift: self.drift,
            },
        }
    }
}

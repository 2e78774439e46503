//! One station connection as a state machine fed with time, like
//! `quinn_proto::Connection`: text frames in, events and text frames out,
//! and a timer that turns a missing `dntxed` into a negative acknowledgement.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use lorawan::Eui64;
use lorawan::region::RegionParams;

use super::{Dnmsg, Error, LnsMessage, RouterConfig, StationMessage, Version, downlink_tx_ack};
use crate::gw;

/// How a [`Session`] behaves.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The region the station runs.
    pub params: &'static RegionParams,
    /// Sent in answer to `version`.
    pub router_config: RouterConfig,
    /// How long after a `dnmsg` a missing `dntxed` counts as a failure.
    pub ack_timeout: Duration,
}

/// What a [`Session`] reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The station introduced itself (a `router_config` is queued).
    Version(Version),
    /// An uplink, ready for MQTT.
    Uplink(Box<gw::UplinkFrame>),
    /// A downlink was emitted (`dntxed`), or is given up on (see
    /// [`Session::handle_timeout`]).
    TxAck(gw::DownlinkTxAck),
}

#[derive(Debug)]
struct Pending {
    deadline: Instant,
    item_frequencies: Vec<u32>,
}

/// A station connection.
#[derive(Debug)]
pub struct Session {
    gateway_id: Eui64,
    config: SessionConfig,
    pending: HashMap<u32, Pending>,
    events: VecDeque<Event>,
    transmits: VecDeque<String>,
    next_uplink_id: u32,
}

impl Session {
    /// A session for the station `gateway_id`.
    pub fn new(gateway_id: Eui64, config: SessionConfig) -> Self {
        Self {
            gateway_id,
            config,
            pending: HashMap::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            next_uplink_id: 1,
        }
    }

    /// Sets the first `uplink_id` the session hands out (then +1 per uplink);
    /// give it a random number.
    pub fn set_next_uplink_id(&mut self, id: u32) {
        self.next_uplink_id = id;
    }

    /// The station's EUI.
    pub fn gateway_id(&self) -> Eui64 {
        self.gateway_id
    }

    /// Handles a text frame from the station received at `now`; `unix` is the
    /// wall clock (since the Unix epoch), for `timesync` and `MuxTime`.
    ///
    /// Messages the session has no use for are accepted and dropped; an error
    /// leaves the session as it was.
    pub fn handle_text(&mut self, now: Instant, unix: Duration, text: &[u8]) -> Result<(), Error> {
        let _ = now;
        let msg = StationMessage::parse(text)?;
        match &msg {
            StationMessage::Version(v) => {
                let mut rc = self.config.router_config.clone();
                rc.mux_time = Some(unix.as_secs_f64());
                self.transmits
                    .push_back(LnsMessage::RouterConfig(rc).to_json());
                self.events.push_back(Event::Version(v.clone()));
            }
            StationMessage::Timesync(t) => {
                self.transmits
                    .push_back(LnsMessage::Timesync(t.respond(unix)).to_json());
            }
            StationMessage::Dntxed(d) => {
                let freqs = self
                    .pending
                    .remove(&d.diid)
                    .map(|p| p.item_frequencies)
                    .unwrap_or_default();
                self.events
                    .push_back(Event::TxAck(downlink_tx_ack(self.gateway_id, d, &freqs)));
            }
            _ => {
                let id = self.next_uplink_id;
                if let Some(frame) = msg.uplink_frame(self.config.params, self.gateway_id, id) {
                    self.events.push_back(Event::Uplink(Box::new(frame?)));
                    self.next_uplink_id = id.wrapping_add(1);
                }
            }
        }
        Ok(())
    }

    /// Queues the `dnmsg` of a `gw::DownlinkFrame` and starts its ack timer.
    pub fn send_downlink(
        &mut self,
        now: Instant,
        unix: Duration,
        frame: &gw::DownlinkFrame,
    ) -> Result<(), Error> {
        let mut dnmsg = Dnmsg::from_downlink_frame(self.config.params, frame)?;
        dnmsg.mux_time = Some(unix.as_secs_f64());
        self.pending.insert(
            frame.downlink_id,
            Pending {
                deadline: now + self.config.ack_timeout,
                item_frequencies: frame
                    .items
                    .iter()
                    .map(|i| i.tx_info.as_ref().map_or(0, |t| t.frequency))
                    .collect(),
            },
        );
        self.transmits.push_back(LnsMessage::Dnmsg(dnmsg).to_json());
        Ok(())
    }

    /// The next text frame to send to the station.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Gives up on downlinks whose `dntxed` is overdue at `now`: each becomes
    /// an [`Event::TxAck`] with its first item `INTERNAL_ERROR` and the rest
    /// `IGNORED`. The station sends no negative acknowledgement, so a
    /// downlink it could not schedule (too late, duty cycle, CCA) ends here.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired: Vec<(u32, usize)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, p)| (*id, p.item_frequencies.len().max(1)))
            .collect();
        expired.sort_unstable();
        for (diid, n) in expired {
            self.pending.remove(&diid);
            self.events.push_back(Event::TxAck(gw::DownlinkTxAck {
                gateway_id: self.gateway_id.to_string(),
                downlink_id: diid,
                items: (0..n)
                    .map(|i| gw::DownlinkTxAckItem {
                        status: if i == 0 {
                            gw::TxAckStatus::InternalError
                        } else {
                            gw::TxAckStatus::Ignored
                        }
                        .into(),
                    })
                    .collect(),
                ..Default::default()
            }));
        }
    }
}

//! One station connection as a state machine fed with time, like
//! `quinn_proto::Connection`: websocket frames in, events and websocket
//! frames out, and a timer for the two things that happen without a message:
//! a missing `dntxed` becoming a negative acknowledgement, and the periodic
//! statistics.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use lorawan::Eui64;
//! use lorawan::region::{ChannelSet, Region, Revision, params};
//! use packet_forwarder::basic_station::{
//!     Event, RouterConfig, RouterConfigOptions, Session, SessionConfig, Transmit,
//! };
//!
//! let eu868 = params(Region::Eu868, Revision::Rp002_1_0_4);
//! let router_config =
//!     RouterConfig::new(eu868, &ChannelSet::first(3), &RouterConfigOptions::default())?;
//! let t0 = Instant::now();
//! let unix = Duration::from_secs(1_700_000_000);
//! let mut session = Session::new(
//!     Eui64::from_u64(0x0102_0304_0506_0708),
//!     SessionConfig {
//!         params: eu868,
//!         router_config,
//!         ack_timeout: Duration::from_secs(10),
//!         stats_interval: Some(Duration::from_secs(30)),
//!         timesync_interval: None,
//!     },
//!     t0,
//! );
//! session.handle_text(t0, unix, br#"{"msgtype":"version","protocol":2}"#)?;
//! assert!(matches!(session.poll_event(), Some(Event::Version(v)) if v.is_protocol_2()));
//! assert!(matches!(session.poll_transmit(), Some(Transmit::Text(t)) if t.contains("router_config")));
//! // Nothing else until the first statistics are due.
//! assert_eq!(session.poll_timeout(), Some(t0 + Duration::from_secs(30)));
//! session.handle_timeout(t0 + Duration::from_secs(30), unix + Duration::from_secs(30));
//! assert!(matches!(session.poll_event(), Some(Event::Stats(s)) if s.rx_packets_received == 0));
//! # Ok::<(), packet_forwarder::basic_station::Error>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use lorawan::Eui64;
use lorawan::region::RegionParams;

use super::uplink::gw_modulation;
use super::{
    Dnmsg, Dnsched, Dntxed, Error, LnsMessage, RadioMetadata, RouterConfig, StationMessage,
    TimeTransfer, Version, downlink_tx_ack, uplink_frame,
};
use crate::gw;
use crate::stats::StatsCounter;

/// How a [`Session`] behaves.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The region the station runs.
    pub params: &'static RegionParams,
    /// Sent in answer to `version`.
    pub router_config: RouterConfig,
    /// How long after a `dnmsg` a missing `dntxed` counts as a failure.
    pub ack_timeout: Duration,
    /// How often [`Event::Stats`] reports the traffic; `None` or zero: never.
    pub stats_interval: Option<Duration>,
    /// The least time between two GPS time transfers to the station (see
    /// [`Session::handle_text`]); `None` or zero: none, ChirpStack's default.
    /// Keep it under 10 minutes, how long a station without PPS trusts one.
    pub timesync_interval: Option<Duration>,
}

/// A websocket message for the station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A text frame: the LNS protocol's JSON, or a raw command that is UTF-8.
    Text(String),
    /// A binary frame: a raw command that is not UTF-8 (remote shell data).
    Binary(Vec<u8>),
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
    /// The traffic since the previous statistics (see
    /// [`Session::handle_timeout`]).
    Stats(Box<gw::GatewayStats>),
    /// A message the session does not read, for the MQTT `raw` event: a
    /// text frame with a `msgtype` the session has no use for (`getxtime`
    /// answers, `error`, …), or a binary frame (remote shell). `payload` is
    /// the frame as received.
    Raw(gw::RawPacketForwarderEvent),
}

/// An item of a downlink waiting for its `dntxed`.
#[derive(Debug)]
struct PendingItem {
    frequency: u32,
    modulation: Option<gw::Modulation>,
}

#[derive(Debug)]
struct Pending {
    /// `None`: `ack_timeout` reaches past what `Instant` can hold.
    deadline: Option<Instant>,
    items: Vec<PendingItem>,
}

/// A station connection.
#[derive(Debug)]
pub struct Session {
    gateway_id: Eui64,
    config: SessionConfig,
    pending: HashMap<u32, Pending>,
    events: VecDeque<Event>,
    transmits: VecDeque<Transmit>,
    next_uplink_id: u32,
    stats: StatsCounter,
    next_stats: Option<Instant>,
    last_time_transfer: Option<Instant>,
}

/// A configured interval, `None` when off (absent or zero).
fn interval(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}

impl Session {
    /// A session for the station `gateway_id`, connected at `now`: the first
    /// [`Event::Stats`] is due one `stats_interval` later.
    pub fn new(gateway_id: Eui64, config: SessionConfig, now: Instant) -> Self {
        let next_stats = interval(config.stats_interval).and_then(|i| now.checked_add(i));
        Self {
            gateway_id,
            config,
            pending: HashMap::new(),
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            next_uplink_id: 1,
            stats: StatsCounter::default(),
            next_stats,
            last_time_transfer: None,
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
    /// wall clock (since the Unix epoch), for `timesync`, `MuxTime` and time
    /// transfers.
    ///
    /// A `version` is answered with the `router_config` (whatever its
    /// `protocol`: see [`Version::is_protocol_2`]), a `timesync` request with
    /// the GPS time, a `dntxed` becomes an [`Event::TxAck`], an uplink an
    /// [`Event::Uplink`]. A JSON object with a `msgtype` the session does not
    /// read becomes an [`Event::Raw`].
    ///
    /// After an uplink, if `timesync_interval` is set and has passed since
    /// the last transfer (or there was none), a GPS time transfer for the
    /// uplink's `xtime` is queued ([`TimeTransfer::for_uplink`] says how its
    /// GPS time is estimated), as ChirpStack's bridge does. Unlike it, the
    /// session sends none while the station reports GPS times of its own
    /// and has had no transfer yet: such a station has a PPS and has
    /// synchronised with the LNS's `timesync` answers, and a transfer would
    /// replace its µs-accurate reference with a ms-accurate one.
    ///
    /// Text that is not a JSON object with a `msgtype` string, or a message
    /// the session reads but cannot use (a malformed uplink, a data rate the
    /// region lacks), is an error, and leaves the session as it was.
    pub fn handle_text(&mut self, now: Instant, unix: Duration, text: &[u8]) -> Result<(), Error> {
        let msg = match StationMessage::parse(text) {
            Ok(msg) => msg,
            Err(Error::UnknownMsgType(_)) => {
                self.push_raw(text);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match &msg {
            StationMessage::Version(v) => {
                let mut rc = self.config.router_config.clone();
                rc.mux_time = Some(unix.as_secs_f64());
                self.push_text(&LnsMessage::RouterConfig(rc));
                self.events.push_back(Event::Version(v.clone()));
            }
            StationMessage::Timesync(t) => {
                self.push_text(&LnsMessage::Timesync(t.respond(unix)));
            }
            StationMessage::Dntxed(d) => self.on_dntxed(d),
            _ => {
                let Some(up) = msg.uplink() else {
                    return Ok(());
                };
                let (phy, radio) = up?;
                let id = self.next_uplink_id;
                let frame = uplink_frame(self.config.params, self.gateway_id, id, phy, radio)?;
                self.next_uplink_id = id.wrapping_add(1);
                self.stats.count_uplink(&frame);
                self.events.push_back(Event::Uplink(Box::new(frame)));
                self.transfer_time(now, unix, radio);
            }
        }
        Ok(())
    }

    /// Handles a binary frame from the station (the remote shell's): it
    /// becomes an [`Event::Raw`].
    pub fn handle_binary(&mut self, now: Instant, data: &[u8]) {
        let _ = now;
        self.push_raw(data);
    }

    /// Queues the `dnmsg` of a `gw::DownlinkFrame` and starts its ack timer.
    ///
    /// Class A (delay timing), Class C (immediately) and Class B (GPS epoch)
    /// frames all go this way and are acknowledged by `dntxed`; see
    /// [`Session::send_scheduled`] for frames nobody acknowledges.
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
                deadline: now.checked_add(self.config.ack_timeout),
                items: frame
                    .items
                    .iter()
                    .map(|i| PendingItem {
                        frequency: i.tx_info.as_ref().map_or(0, |t| t.frequency),
                        modulation: i.tx_info.as_ref().and_then(|t| t.modulation.clone()),
                    })
                    .collect(),
            },
        );
        self.stats.count_downlink_received();
        self.push_text(&LnsMessage::Dnmsg(dnmsg));
        Ok(())
    }

    /// Queues the first item of a `gw::DownlinkFrame` with GPS-epoch timing
    /// as a `dnsched` entry (see [`Dnsched::from_downlink_frame`]): for Class B
    /// and multicast frames that need no acknowledgement.
    ///
    /// The station sends no `dntxed` for `dnsched`, so the session starts no
    /// timer and reports nothing for it: no [`Event::TxAck`] ever comes. The
    /// frame counts as received for transmission in [`Event::Stats`], never
    /// as emitted. The station needs GPS time (a PPS, or a time transfer) to
    /// place it, and drops it silently without.
    pub fn send_scheduled(
        &mut self,
        now: Instant,
        unix: Duration,
        frame: &gw::DownlinkFrame,
    ) -> Result<(), Error> {
        let _ = now;
        let mut dnsched = Dnsched::from_downlink_frame(self.config.params, frame)?;
        dnsched.mux_time = Some(unix.as_secs_f64());
        self.stats.count_downlink_received();
        self.push_text(&LnsMessage::Dnsched(dnsched));
        Ok(())
    }

    /// Queues a raw command's payload as it is: a text frame if it is UTF-8,
    /// a binary frame otherwise. Its `gateway_id` is not checked: routing it
    /// to this session is the caller's business.
    pub fn send_raw(&mut self, cmd: &gw::RawPacketForwarderCommand) {
        self.transmits
            .push_back(match String::from_utf8(cmd.payload.clone()) {
                Ok(text) => Transmit::Text(text),
                Err(e) => Transmit::Binary(e.into_bytes()),
            });
    }

    /// The next websocket frame to send to the station.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] is next due: the earliest ack
    /// deadline or statistics time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter_map(|p| p.deadline)
            .chain(self.next_stats)
            .min()
    }

    /// Handles the passing of time to `now` (`unix` on the wall clock).
    ///
    /// First, downlinks whose `dntxed` is overdue are given up on: each
    /// becomes an [`Event::TxAck`] with its first item `INTERNAL_ERROR` and
    /// the rest `IGNORED`. The station sends no negative acknowledgement, so
    /// a downlink it could not schedule (too late, duty cycle, CCA) ends
    /// here. Then, if statistics are due, an [`Event::Stats`] stamped `unix`
    /// reports the traffic since the previous one, these failures included,
    /// and the counts start again from zero. The next statistics are due one
    /// interval after these were; after a stall of several intervals, one
    /// interval after `now`, and only one [`Event::Stats`] covers the stall.
    pub fn handle_timeout(&mut self, now: Instant, unix: Duration) {
        let mut expired: Vec<(u32, usize)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
            .map(|(id, p)| (*id, p.items.len().max(1)))
            .collect();
        expired.sort_unstable();
        for (diid, n) in expired {
            self.pending.remove(&diid);
            self.stats.count_failed(gw::TxAckStatus::InternalError);
            self.events.push_back(Event::TxAck(gw::tx_ack(
                self.gateway_id.to_string(),
                diid,
                n,
                &[gw::TxAckStatus::InternalError],
            )));
        }
        if let (Some(due), Some(every)) = (self.next_stats, interval(self.config.stats_interval))
            && due <= now
        {
            let stats = self.stats.take(self.gateway_id.to_string(), unix);
            self.events.push_back(Event::Stats(Box::new(stats)));
            self.next_stats = match due.checked_add(every) {
                Some(next) if next > now => Some(next),
                _ => now.checked_add(every),
            };
        }
    }

    fn on_dntxed(&mut self, d: &Dntxed) {
        let items = self
            .pending
            .remove(&d.diid)
            .map(|p| p.items)
            .unwrap_or_default();
        let frequencies: Vec<u32> = items.iter().map(|i| i.frequency).collect();
        let ack = downlink_tx_ack(self.gateway_id, d, &frequencies);
        let sent = ack
            .items
            .iter()
            .position(|i| i.status() == gw::TxAckStatus::Ok)
            .and_then(|i| items.get(i));
        match sent {
            Some(item) => self
                .stats
                .count_emitted(Some(item.frequency), item.modulation.as_ref()),
            // A dntxed after its timeout, or for a downlink of an earlier
            // session: what the station says it used.
            None => {
                let modulation =
                    d.dr.and_then(|dr| gw_modulation(self.config.params, dr).ok());
                self.stats.count_emitted(d.freq, modulation.as_ref());
            }
        }
        self.events.push_back(Event::TxAck(ack));
    }

    fn transfer_time(&mut self, now: Instant, unix: Duration, radio: &RadioMetadata) {
        let Some(every) = interval(self.config.timesync_interval) else {
            return;
        };
        match self.last_time_transfer {
            Some(last) if now.saturating_duration_since(last) < every => return,
            None if radio.upinfo.gpstime.is_some_and(|g| g > 0) => return,
            _ => {}
        }
        if let Some(transfer) = TimeTransfer::for_uplink(radio, unix) {
            self.last_time_transfer = Some(now);
            self.push_text(&LnsMessage::TimeTransfer(transfer));
        }
    }

    fn push_text(&mut self, msg: &LnsMessage) {
        self.transmits.push_back(Transmit::Text(msg.to_json()));
    }

    fn push_raw(&mut self, payload: &[u8]) {
        self.events
            .push_back(Event::Raw(gw::RawPacketForwarderEvent {
                gateway_id: self.gateway_id.to_string(),
                payload: payload.to_vec(),
                ..Default::default()
            }));
    }
}

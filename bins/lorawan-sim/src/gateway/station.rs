//! A gateway running LoRa Basics Station (LNS protocol 2) against an LNS:
//! a gateway bridge's Basics Station listener, or ChirpStack's.
//!
//! It asks `{station_server}/router-info` where to go, opens that
//! websocket, sends `version` and waits for `router_config`, whose `DRs`
//! table maps (SF, BW) to a data-rate index for uplinks and back for
//! downlinks. Each frame heard goes up as `updf`, `jreq` or `propdf`; a
//! `dnmsg` goes on the air in RX1, or in RX2 when RX1 is too late (class A),
//! or at once on the RX2 parameters (class C), and is confirmed with
//! `dntxed` when it leaves the antenna; a `dnmsg` that cannot go out gets
//! no answer, as from a real station. `dnsched` and `dnframe` entries with an
//! `xtime` are sent too; GPS-timed ones (class B) are not: the gateway has
//! no GPS. A websocket that closes is reopened with back-off.
//!
//! `xtime` is the concentrator counter as the station forms it: the 32-bit
//! counter unwrapped to 48 bits of µs, a concentrator-session id (never 0)
//! in bits 55–48 and the radio unit (0) above. The station restarts its
//! radio on each `router_config`, so each connection has a session of its
//! own, and a downlink naming another session is dropped.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt as _, StreamExt as _};
use lorawan::Eui64;
use lorawan::phy::{MType, Mhdr};
use packet_forwarder::basic_station::{
    Dnframe, Dnmsg, Dnsched, DnschedTime, Dntxed, Jreq, Propdf, RadioMetadata, RouterConfig,
    RouterInfoResponse, StationMessage, UpInfo, Updf, Version, format_id6,
};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Concentrator, GatewayCounters, Heard};
use crate::sim::SimError;

/// How long discovery and the `version` / `router_config` exchange may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait before reconnecting, doubled on each failure…
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// …up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often the 48-bit counter is brought up to date without traffic, well
/// within the 35 minutes the 32-bit counter can be unwrapped over.
const CLOCK_TICK: Duration = Duration::from_secs(60);

/// Bits 47–0 of an `xtime`: the µs counter.
const MICROS_MASK: i64 = (1 << 48) - 1;
/// Where the session id starts in an `xtime`.
const SESSION_SHIFT: u32 = 48;
/// One second of the counter.
const SECOND_US: i64 = 1_000_000;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens the gateway's connection to the LNS at `server` (`ws://host:port`)
/// and starts its task.
pub(crate) async fn start(
    gateway_id: Eui64,
    concentrator: Concentrator,
    heard: mpsc::UnboundedReceiver<Heard>,
    server: &str,
    counters: Arc<GatewayCounters>,
) -> Result<JoinHandle<()>, SimError> {
    let clock = XtimeClock::new(1, concentrator.tmst(Instant::now()));
    let mut gateway = StationGateway {
        gateway_id,
        server: server.trim_end_matches('/').to_owned(),
        concentrator,
        counters,
        clock,
    };
    let link = gateway
        .connect()
        .await
        .map_err(|reason| SimError::Connect { gateway_id, reason })?;
    Ok(tokio::spawn(gateway.run(heard, link)))
}

/// The `xtime`s of one concentrator session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct XtimeClock {
    /// The session id, bits 55–48; never 0.
    session: u8,
    /// The latest counter value read, unwrapped to 48 bits.
    micros: i64,
}

impl XtimeClock {
    /// Session `session` of a concentrator whose counter reads `tmst`.
    fn new(session: u8, tmst: u32) -> Self {
        Self {
            session: session.max(1),
            micros: i64::from(tmst),
        }
    }

    /// A new session (a restarted radio) of the same counter: another id.
    fn restart(&mut self, random: u8) {
        let session = random.max(1);
        self.session = if session == self.session {
            session.wrapping_add(1).max(1)
        } else {
            session
        };
    }

    /// The `xtime` of the counter reading `tmst`, within 35 minutes of the
    /// latest reading, as the station unwraps it: by the signed 32-bit
    /// difference.
    fn xtime(&mut self, tmst: u32) -> i64 {
        let delta = tmst.wrapping_sub(self.micros as u32).cast_signed();
        let micros = (self.micros + i64::from(delta)) & MICROS_MASK;
        if delta > 0 {
            self.micros = micros;
        }
        self.compose(micros)
    }

    /// The `xtime` of 48-bit counter value `micros` in this session.
    fn compose(&self, micros: i64) -> i64 {
        (i64::from(self.session) << SESSION_SHIFT) | (micros & MICROS_MASK)
    }

    /// The counter value of `xtime`, if it is of this session and radio
    /// unit 0.
    fn micros(&self, xtime: i64) -> Option<i64> {
        (xtime >> SESSION_SHIFT == i64::from(self.session)).then_some(xtime & MICROS_MASK)
    }
}

/// The `DRs` of a `router_config`: `[SF, BW kHz, downlink-only]` by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DrTable(Vec<[i32; 3]>);

impl DrTable {
    /// The first uplink data-rate index of LoRa (`spreading_factor`,
    /// `bandwidth` Hz).
    fn uplink(&self, spreading_factor: u8, bandwidth: u32) -> Option<u8> {
        let index = self.0.iter().position(|&[sf, bw, dnonly]| {
            sf == i32::from(spreading_factor)
                && i64::from(bw) * 1000 == i64::from(bandwidth)
                && dnonly == 0
        })?;
        u8::try_from(index).ok()
    }

    /// The LoRa (spreading factor, bandwidth Hz) of data-rate index `dr`;
    /// `None` for FSK (SF 0) and undefined indices (SF −1).
    fn lora(&self, dr: u8) -> Option<(u8, u32)> {
        let [sf, bw, _] = *self.0.get(usize::from(dr))?;
        let sf = u8::try_from(sf).ok().filter(|sf| (5..=12).contains(sf))?;
        let bw = u32::try_from(bw).ok()?.checked_mul(1000)?;
        Some((sf, bw))
    }
}

/// Where a downlink may go, in the order to try: data-rate index,
/// frequency, counter value (µs).
type TxWindow = (u8, u32, i64);

/// The windows of a `dnmsg` at counter value `now`: class A RX1 then RX2
/// after the uplink's `xtime` (none if it is of another session), class C
/// at once on the RX2 parameters (or `DR`/`Freq`), class B none (no GPS).
fn dnmsg_windows(dnmsg: &Dnmsg, clock: &XtimeClock, now: i64) -> Vec<TxWindow> {
    match dnmsg.dc {
        0 => {
            let Some(uplink) = dnmsg.xtime.and_then(|x| clock.micros(x)) else {
                return Vec::new();
            };
            // The station reads RxDelay 0 as 1.
            let rx1 = uplink + i64::from(dnmsg.rx_delay.unwrap_or(1).max(1)) * SECOND_US;
            [
                dnmsg.rx1_dr.zip(dnmsg.rx1_freq).map(|(d, f)| (d, f, rx1)),
                dnmsg
                    .rx2_dr
                    .zip(dnmsg.rx2_freq)
                    .map(|(d, f)| (d, f, rx1 + SECOND_US)),
            ]
            .into_iter()
            .flatten()
            .collect()
        }
        2 => dnmsg
            .rx2_dr
            .zip(dnmsg.rx2_freq)
            .or(dnmsg.dr.zip(dnmsg.freq))
            .map(|(d, f)| (d, f, now))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// The station message of a frame heard: `updf`, `jreq` or `propdf`;
/// `None` for a frame a station does not forward (a data rate not in the
/// table, a rejoin-request, a downlink, a malformed frame).
fn uplink_message(frame: &Heard, drs: &DrTable, xtime: i64, rxtime: f64) -> Option<StationMessage> {
    let radio = RadioMetadata {
        dr: drs.uplink(frame.spreading_factor, frame.bandwidth)?,
        freq: frame.frequency,
        ref_time: None,
        upinfo: UpInfo {
            rctx: 0,
            xtime,
            gpstime: None,
            fts: None,
            rssi: f64::from(frame.rssi),
            snr: f64::from(frame.snr),
            rxtime: Some(rxtime),
        },
    };
    let phy = &frame.phy_payload;
    match Mhdr(*phy.first()?).mtype() {
        MType::JoinRequest => Jreq::from_phy_payload(phy, radio)
            .ok()
            .map(StationMessage::Jreq),
        MType::UnconfirmedDataUp | MType::ConfirmedDataUp => Updf::from_phy_payload(phy, radio)
            .ok()
            .map(StationMessage::Updf),
        MType::Proprietary => Some(StationMessage::Propdf(Propdf {
            frm_payload: phy.clone(),
            radio,
        })),
        // The station's `rejoin` has the join-request layout (23 bytes),
        // which no rejoin-request has.
        _ => None,
    }
}

/// UTC seconds of `at`.
fn utc_seconds(at: Instant) -> f64 {
    let ago = Instant::now().saturating_duration_since(at);
    SystemTime::now()
        .checked_sub(ago)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_secs_f64()
}

/// A `msgtype`, to pick the type to read a message as.
#[derive(Deserialize)]
struct Tag {
    msgtype: String,
}

/// One websocket connection to the LNS.
struct Link {
    ws: Ws,
    drs: DrTable,
    /// `dntxed`s to send when their downlink has left the antenna.
    dntxed: Vec<(Instant, Dntxed)>,
}

/// Why [`StationGateway::serve`] returned.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The simulation is over (no more frames to hear).
    SimulationOver,
    /// The websocket closed.
    Closed,
}

struct StationGateway {
    gateway_id: Eui64,
    /// `ws://host:port` of the LNS, without a trailing slash.
    server: String,
    concentrator: Concentrator,
    counters: Arc<GatewayCounters>,
    clock: XtimeClock,
}

impl StationGateway {
    /// Discovery, the muxs connection, `version` and `router_config`.
    async fn connect(&mut self) -> Result<Link, String> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.handshake())
            .await
            .map_err(|_| {
                format!(
                    "{}: no router_config within {CONNECT_TIMEOUT:?}",
                    self.server
                )
            })?
    }

    async fn handshake(&mut self) -> Result<Link, String> {
        let info_url = format!("{}/router-info", self.server);
        let failed = |url: &str, e: &dyn std::fmt::Display| format!("{url}: {e}");
        let (mut info, _) = tokio_tungstenite::connect_async(info_url.as_str())
            .await
            .map_err(|e| failed(&info_url, &e))?;
        let request = serde_json::json!({ "router": format_id6(self.gateway_id) });
        info.send(Message::text(request.to_string()))
            .await
            .map_err(|e| failed(&info_url, &e))?;
        let answer = next_text(&mut info)
            .await
            .map_err(|e| failed(&info_url, &e))?;
        let _ = info.close(None).await;
        let answer: RouterInfoResponse =
            serde_json::from_str(&answer).map_err(|e| failed(&info_url, &e))?;
        if let Some(error) = answer.error {
            return Err(failed(&info_url, &error));
        }
        let uri = answer
            .uri
            .ok_or_else(|| failed(&info_url, &"no uri in the answer"))?;

        let (mut ws, _) = tokio_tungstenite::connect_async(uri.as_str())
            .await
            .map_err(|e| failed(&uri, &e))?;
        let version = StationMessage::Version(Version {
            station: Some("2.0.6(lorawan-sim)".into()),
            model: Some("lorawan-sim".into()),
            protocol: Some(2),
            features: Some(String::new()),
            ..Version::default()
        });
        let version = String::from_utf8(version.to_vec()).expect("JSON is UTF-8");
        ws.send(Message::text(version))
            .await
            .map_err(|e| failed(&uri, &e))?;
        // The station drops anything before its `router_config`.
        let router_config = loop {
            let text = next_text(&mut ws).await.map_err(|e| failed(&uri, &e))?;
            if matches!(serde_json::from_str::<Tag>(&text), Ok(t) if t.msgtype == "router_config") {
                break serde_json::from_str::<RouterConfig>(&text)
                    .map_err(|e| failed(&uri, &format!("router_config: {e}")))?;
            }
        };
        self.clock.restart(uuid::Uuid::new_v4().as_bytes()[0]);
        Ok(Link {
            ws,
            drs: DrTable(router_config.drs),
            dntxed: Vec::new(),
        })
    }

    async fn run(mut self, mut heard: mpsc::UnboundedReceiver<Heard>, mut link: Link) {
        loop {
            if self.serve(&mut heard, link).await == Ended::SimulationOver {
                return;
            }
            match self.reconnect(&mut heard).await {
                Some(next) => link = next,
                None => return,
            }
        }
    }

    /// Reconnects with back-off; frames heard meanwhile are lost, counted.
    /// `None` when the simulation ends first.
    async fn reconnect(&mut self, heard: &mut mpsc::UnboundedReceiver<Heard>) -> Option<Link> {
        let counters = Arc::clone(&self.counters);
        let mut backoff = BACKOFF_MIN;
        loop {
            let wait = tokio::time::sleep(backoff);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    frame = heard.recv() => {
                        frame?;
                        GatewayCounters::bump(&counters.forward_errors);
                    }
                }
            }
            let attempt = self.connect();
            tokio::pin!(attempt);
            let connected = loop {
                tokio::select! {
                    result = &mut attempt => break result,
                    frame = heard.recv() => {
                        frame?;
                        GatewayCounters::bump(&counters.forward_errors);
                    }
                }
            };
            match connected {
                Ok(link) => return Some(link),
                Err(_) => backoff = (backoff * 2).min(BACKOFF_MAX),
            }
        }
    }

    /// Runs one connection until it closes or the simulation ends.
    async fn serve(&mut self, heard: &mut mpsc::UnboundedReceiver<Heard>, mut link: Link) -> Ended {
        let mut tick = tokio::time::interval(CLOCK_TICK);
        loop {
            let next_dntxed = link.dntxed.iter().map(|(at, _)| *at).min();
            tokio::select! {
                frame = heard.recv() => {
                    let Some(frame) = frame else {
                        let _ = link.ws.close(None).await;
                        return Ended::SimulationOver;
                    };
                    let xtime = self.clock.xtime(self.concentrator.tmst(frame.at));
                    let Some(up) = uplink_message(&frame, &link.drs, xtime, utc_seconds(frame.at))
                    else {
                        GatewayCounters::bump(&self.counters.forward_errors);
                        continue;
                    };
                    if !self.send(&mut link.ws, &up).await {
                        GatewayCounters::bump(&self.counters.forward_errors);
                        return Ended::Closed;
                    }
                }
                message = link.ws.next() => match message {
                    Some(Ok(Message::Text(text))) => self.handle(&mut link, text.as_str()),
                    // Pings are answered by tungstenite.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Ended::Closed,
                },
                () = sleep_until(next_dntxed) => {
                    let now = Instant::now();
                    let (due, later) = link.dntxed.drain(..).partition(|(at, _)| *at <= now);
                    link.dntxed = later;
                    for (_, mut dntxed) in due {
                        dntxed.txtime = Some(utc_seconds(now));
                        if !self.send(&mut link.ws, &StationMessage::Dntxed(dntxed)).await {
                            return Ended::Closed;
                        }
                    }
                }
                _ = tick.tick() => {
                    self.clock.xtime(self.concentrator.tmst(Instant::now()));
                }
            }
        }
    }

    /// Sends a message; false when the websocket is gone.
    async fn send(&self, ws: &mut Ws, message: &StationMessage) -> bool {
        let text = String::from_utf8(message.to_vec()).expect("JSON is UTF-8");
        ws.send(Message::text(text)).await.is_ok()
    }

    /// A message from the LNS.
    fn handle(&mut self, link: &mut Link, text: &str) {
        let Ok(tag) = serde_json::from_str::<Tag>(text) else {
            return;
        };
        match tag.msgtype.as_str() {
            "dnmsg" => {
                if let Ok(dnmsg) = serde_json::from_str::<Dnmsg>(text) {
                    self.dnmsg(link, &dnmsg);
                }
            }
            "dnframe" => {
                if let Ok(dnframe) = serde_json::from_str::<Dnframe>(text) {
                    self.dnframe(link, &dnframe);
                }
            }
            "dnsched" => {
                if let Ok(dnsched) = serde_json::from_str::<Dnsched>(text) {
                    self.dnsched(&link.drs, &dnsched);
                }
            }
            // A new configuration, as the station takes it (radio restarted).
            "router_config" => {
                if let Ok(rc) = serde_json::from_str::<RouterConfig>(text) {
                    link.drs = DrTable(rc.drs);
                    self.clock.restart(uuid::Uuid::new_v4().as_bytes()[0]);
                }
            }
            // `timesync` transfers set GPS time, which this gateway has no
            // use for (no class B); `runcmd`, `rmtsh`, `getxtime`: not here.
            _ => {}
        }
    }

    /// The counter value now.
    fn now_micros(&mut self, now: Instant) -> i64 {
        self.clock.xtime(self.concentrator.tmst(now)) & MICROS_MASK
    }

    /// Puts `pdu` on the air at counter value `micros`; the instant it
    /// goes, unless that is too late or the data rate is not LoRa.
    fn transmit(&self, drs: &DrTable, pdu: &[u8], (dr, freq, micros): TxWindow) -> Option<Instant> {
        let lora = drs.lora(dr)?;
        let now = Instant::now();
        let at = self.concentrator.instant(micros as u32, now);
        self.concentrator
            .transmit(pdu.to_vec(), freq, lora, at)
            .ok()?;
        Some(at)
    }

    fn dnmsg(&mut self, link: &mut Link, dnmsg: &Dnmsg) {
        let now = self.now_micros(Instant::now());
        let sent = dnmsg_windows(dnmsg, &self.clock, now)
            .into_iter()
            .find_map(|w| Some((w, self.transmit(&link.drs, &dnmsg.pdu, w)?)));
        if let Some(((dr, freq, micros), at)) = sent {
            self.confirm(link, dnmsg.diid, dnmsg.dev_eui, (dr, freq, micros), at);
        }
    }

    fn dnframe(&mut self, link: &mut Link, dnframe: &Dnframe) {
        let Some(micros) = self.clock.micros(dnframe.xtime) else {
            return;
        };
        let micros = if dnframe.asap == Some(true) {
            self.now_micros(Instant::now())
        } else {
            micros
        };
        let window = (dnframe.dr, dnframe.freq, micros);
        if let Some(at) = self.transmit(&link.drs, &dnframe.pdu, window) {
            self.confirm(link, dnframe.diid, dnframe.dev_eui, window, at);
        }
    }

    /// Frames at an `xtime` of this session; GPS-timed ones cannot go out.
    fn dnsched(&self, drs: &DrTable, dnsched: &Dnsched) {
        for entry in &dnsched.schedule {
            let DnschedTime::XTime(xtime) = entry.time else {
                continue;
            };
            if let Some(micros) = i64::try_from(xtime).ok().and_then(|x| self.clock.micros(x)) {
                self.transmit(drs, &entry.pdu, (entry.dr, entry.freq, micros));
            }
        }
    }

    /// Queues the `dntxed` of a downlink leaving at `at`, unless its DevEUI
    /// is 0 (the station's way of asking for none).
    fn confirm(&self, link: &mut Link, diid: u32, dev_eui: Eui64, window: TxWindow, at: Instant) {
        if dev_eui.to_u64() == 0 {
            return;
        }
        let (dr, freq, micros) = window;
        link.dntxed.push((
            at,
            Dntxed {
                diid,
                seqno: Some(u64::from(diid)),
                dr: Some(dr),
                freq: Some(freq),
                dev_eui: Some(dev_eui),
                rctx: Some(0),
                xtime: Some(self.clock.compose(micros)),
                txtime: None,
                gpstime: None,
            },
        ));
    }
}

/// The next text message of `ws`.
async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => return Err("closed by the LNS".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(_)) => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EU868's `DRs` as `router_config` carries them.
    fn eu868() -> DrTable {
        let mut drs = vec![
            [12, 125, 0],
            [11, 125, 0],
            [10, 125, 0],
            [9, 125, 0],
            [8, 125, 0],
            [7, 125, 0],
            [7, 250, 0],
            [0, 0, 0],
        ];
        drs.resize(16, [-1, 0, 0]);
        DrTable(drs)
    }

    #[test]
    fn xtime_carries_the_session_above_48_bits_of_micros() {
        let mut clock = XtimeClock::new(0x5a, 0x4000_0000);
        assert_eq!(clock.xtime(0x4000_0010), 0x005a_0000_4000_0010);
        assert_eq!(clock.micros(0x005a_0000_4000_0010), Some(0x4000_0010));
        // Another session, or another radio unit: not this concentrator's.
        assert_eq!(clock.micros(0x005b_0000_4000_0010), None);
        assert_eq!(clock.micros(0x015a_0000_4000_0010), None);
        assert_eq!(clock.compose(7), 0x005a_0000_0000_0007);
    }

    #[test]
    fn xtime_unwraps_the_32_bit_counter() {
        let mut clock = XtimeClock::new(1, 0xffff_fff0);
        // Past the wrap: bit 32 set.
        assert_eq!(clock.xtime(0x10) & MICROS_MASK, 0x1_0000_0010);
        // A frame heard a little earlier, reported later: before the wrap.
        assert_eq!(clock.xtime(0xffff_ff00) & MICROS_MASK, 0xffff_ff00);
        assert_eq!(clock.xtime(0x20) & MICROS_MASK, 0x1_0000_0020);
    }

    #[test]
    fn a_restarted_concentrator_has_another_session_never_zero() {
        let mut clock = XtimeClock::new(0, 5);
        assert_eq!(clock.session, 1);
        clock.restart(1);
        assert_ne!(clock.session, 1);
        clock.restart(0);
        assert_ne!(clock.session, 0);
        assert_eq!(clock.micros, 5);
    }

    #[test]
    fn dr_table_maps_lora_both_ways() {
        let drs = eu868();
        assert_eq!(drs.uplink(12, 125_000), Some(0));
        assert_eq!(drs.uplink(7, 125_000), Some(5));
        assert_eq!(drs.uplink(7, 250_000), Some(6));
        assert_eq!(drs.uplink(7, 500_000), None);
        assert_eq!(drs.lora(3), Some((9, 125_000)));
        assert_eq!(drs.lora(6), Some((7, 250_000)));
        // FSK and undefined indices are not LoRa.
        assert_eq!(drs.lora(7), None);
        assert_eq!(drs.lora(8), None);
        assert_eq!(drs.lora(16), None);
    }

    #[test]
    fn dr_table_skips_downlink_only_rates_for_uplinks() {
        // US915: DR4 is SF8/500 up, DR12 SF8/500 down only.
        let mut drs = vec![
            [10, 125, 0],
            [9, 125, 0],
            [8, 125, 0],
            [7, 125, 0],
            [8, 500, 0],
        ];
        drs.extend([[-1, 0, 0]; 3]);
        drs.extend([12, 11, 10, 9, 8, 7].map(|sf| [sf, 500, 1]));
        drs.extend([[-1, 0, 0]; 2]);
        let drs = DrTable(drs);
        assert_eq!(drs.uplink(8, 500_000), Some(4));
        assert_eq!(drs.uplink(12, 500_000), None);
        assert_eq!(drs.lora(8), Some((12, 500_000)));
    }

    fn dnmsg(dc: u8) -> Dnmsg {
        serde_json::from_value(serde_json::json!({
            "DevEui": "01-01-01-01-01-01-01-01", "dC": dc, "diid": 7, "pdu": "20",
            "priority": 1, "RxDelay": 1, "RX1DR": 5, "RX1Freq": 868_100_000,
            "RX2DR": 0, "RX2Freq": 869_525_000,
            "xtime": 0x002a_0000_4000_0000_i64, "rctx": 0
        }))
        .unwrap()
    }

    #[test]
    fn class_a_tries_rx1_then_rx2_one_second_later() {
        let clock = XtimeClock::new(0x2a, 0x4000_0000);
        let windows = dnmsg_windows(&dnmsg(0), &clock, 0);
        assert_eq!(
            windows,
            [
                (5, 868_100_000, 0x4000_0000 + SECOND_US),
                (0, 869_525_000, 0x4000_0000 + 2 * SECOND_US),
            ]
        );
        // RxDelay 5 (join-accept): 5 s and 6 s after the uplink.
        let mut join = dnmsg(0);
        join.rx_delay = Some(5);
        let windows = dnmsg_windows(&join, &clock, 0);
        assert_eq!(windows[0].2, 0x4000_0000 + 5 * SECOND_US);
        assert_eq!(windows[1].2, 0x4000_0000 + 6 * SECOND_US);
    }

    #[test]
    fn class_a_of_another_concentrator_session_is_dropped() {
        let clock = XtimeClock::new(0x2b, 0x4000_0000);
        assert!(dnmsg_windows(&dnmsg(0), &clock, 0).is_empty());
    }

    #[test]
    fn class_c_goes_at_once_on_rx2_and_class_b_not_at_all() {
        let clock = XtimeClock::new(0x2a, 0x4000_0000);
        assert_eq!(
            dnmsg_windows(&dnmsg(2), &clock, 0x5000_0000),
            [(0, 869_525_000, 0x5000_0000)]
        );
        assert!(dnmsg_windows(&dnmsg(1), &clock, 0x5000_0000).is_empty());
    }

    fn heard(phy_payload: Vec<u8>) -> Heard {
        Heard {
            phy_payload,
            frequency: 868_300_000,
            spreading_factor: 9,
            bandwidth: 125_000,
            rssi: -80,
            snr: 7.5,
            at: Instant::now(),
        }
    }

    #[test]
    fn frames_become_updf_jreq_or_propdf_with_their_upinfo() {
        let drs = eu868();
        let xtime = 0x0001_0000_4000_0000;
        let data = vec![0x40, 4, 3, 2, 1, 0x80, 1, 0, 10, 0xaa, 1, 2, 3, 4];
        let Some(StationMessage::Updf(updf)) =
            uplink_message(&heard(data.clone()), &drs, xtime, 1.0)
        else {
            panic!("updf");
        };
        assert_eq!(updf.phy_payload().unwrap(), data);
        assert_eq!(updf.radio.dr, 3);
        assert_eq!(updf.radio.freq, 868_300_000);
        assert_eq!(updf.radio.upinfo.xtime, xtime);
        assert_eq!(updf.radio.upinfo.rctx, 0);
        assert_eq!(updf.radio.upinfo.rssi, -80.0);

        let mut join = vec![0x00];
        join.extend(1..=22);
        let msg = uplink_message(&heard(join.clone()), &drs, xtime, 1.0);
        assert!(
            matches!(&msg, Some(StationMessage::Jreq(j)) if j.phy_payload("jreq").unwrap() == join)
        );

        let proprietary = vec![0xe0, 1, 2];
        let msg = uplink_message(&heard(proprietary.clone()), &drs, xtime, 1.0);
        assert!(matches!(&msg, Some(StationMessage::Propdf(p)) if p.frm_payload == proprietary));

        // A data rate the table lacks: not forwarded.
        let mut wide = heard(data);
        wide.bandwidth = 500_000;
        assert!(uplink_message(&wide, &drs, xtime, 1.0).is_none());
    }
}

//! A simulated radio and timer for `lorawan-device`'s async [`Device`], so
//! that lora-rs's own LoRaWAN stack is the device of the end-to-end tests.
//!
//! The radio hands every transmission to a simulated gateway through the
//! [`Air`] and gets back, from that gateway, what it transmits
//! ([`OnAir`]: the PHYPayload, its radio parameters and its delay after the
//! uplink, as the gateway reads the `DownlinkFrame` or `PULL_RESP`).
//!
//! Time is real but the device's own clock is not: its [`SimTimer`] returns
//! at once and tells the radio which RX window (how many ms after the
//! uplink) the device opens next. [`SimRadio::rx_single`] then waits, in
//! real time, until that window is due for the gateway's frame, and hands
//! it to the device only if it is sent in that window — same delay,
//! frequency, spreading factor and bandwidth — as a real radio would.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use lorawan_device::Prng;
use lorawan_device::async_device::radio::{
    PhyRxTx, RfConfig, RxConfig, RxQuality, RxStatus, Timer, TxConfig,
};
use lorawan_device::async_device::{Device, Timings};
use lorawan_device::region::{Configuration, Region};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::crypto::RustCrypto;

/// A `lorawan-device` class A device on the simulated radio.
pub type LoraDevice = Device<SimRadio, RustCrypto, SimTimer, Prng>;

/// A frame sent by the device, as its gateway hears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission {
    pub phy_payload: Vec<u8>,
    /// Hz.
    pub frequency: u32,
    pub spreading_factor: u32,
    /// Hz.
    pub bandwidth: u32,
    /// The coding rate's denominator (4/5: 5).
    pub code_rate_denominator: u32,
}

/// A frame a gateway transmits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnAir {
    pub phy_payload: Vec<u8>,
    /// Hz.
    pub frequency: u32,
    pub spreading_factor: u32,
    /// Hz.
    pub bandwidth: u32,
    /// When, after the end of the uplink it answers.
    pub delay: Duration,
}

/// The gateway's end of the air.
#[derive(Debug)]
pub struct GatewaySide {
    pub uplinks: mpsc::UnboundedReceiver<Transmission>,
    pub downlinks: mpsc::UnboundedSender<OnAir>,
}

/// The device's end of the air.
#[derive(Debug)]
pub struct Air {
    uplinks: mpsc::UnboundedSender<Transmission>,
    downlinks: mpsc::UnboundedReceiver<OnAir>,
}

/// A radio link between one device and one gateway.
pub fn air() -> (Air, GatewaySide) {
    let (up_tx, up_rx) = mpsc::unbounded_channel();
    let (down_tx, down_rx) = mpsc::unbounded_channel();
    (
        Air {
            uplinks: up_tx,
            downlinks: down_rx,
        },
        GatewaySide {
            uplinks: up_rx,
            downlinks: down_tx,
        },
    )
}

/// A `lorawan-device` EU868 device on `air`; `seed` feeds its DevNonce and
/// channel choices (a fresh one per test).
pub fn eu868_device(air: Air, seed: u64) -> LoraDevice {
    let window = Rc::new(Cell::new(0));
    let radio = SimRadio {
        air,
        window: Rc::clone(&window),
        tx_at: Instant::now(),
        rx: None,
        pending: None,
        received: Vec::new(),
        missed: Vec::new(),
    };
    Device::new_with_seed(
        Configuration::new(Region::EU868),
        radio,
        SimTimer { window },
        seed,
    )
}

/// The simulated radio.
#[derive(Debug)]
pub struct SimRadio {
    air: Air,
    /// The RX window the device opens next, in ms after the uplink.
    window: Rc<Cell<u64>>,
    tx_at: Instant,
    rx: Option<RfConfig>,
    /// The gateway's frame for the last uplink, not yet due.
    pending: Option<OnAir>,
    /// Every frame handed to the device.
    pub received: Vec<OnAir>,
    /// Frames sent in a window the device opened, but with other radio
    /// parameters than it listened with (so it did not get them).
    pub missed: Vec<String>,
}

/// The device's timer: returns at once, telling the radio which window is
/// next (see the module documentation).
#[derive(Debug)]
pub struct SimTimer {
    window: Rc<Cell<u64>>,
}

impl Timer for SimTimer {
    fn reset(&mut self) {}

    async fn at(&mut self, millis: u64) {
        self.window.set(millis);
    }

    async fn delay_ms(&mut self, millis: u64) {
        tokio::time::sleep(Duration::from_millis(millis)).await;
    }
}

fn params(rf: &RfConfig) -> (u32, u32, u32) {
    (rf.frequency, rf.bb.sf.factor(), rf.bb.bw.hz())
}

impl Timings for SimRadio {
    // No lead time: the windows the timer sees are the RX delays themselves.
    fn get_rx_window_lead_time_ms(&self) -> u32 {
        0
    }
}

impl PhyRxTx for SimRadio {
    type PhyError = String;
    const MAX_RADIO_POWER: u8 = 16;

    async fn tx(&mut self, config: TxConfig, buf: &[u8]) -> Result<u32, String> {
        // What the gateway sent for an earlier uplink is gone.
        self.pending = None;
        while self.air.downlinks.try_recv().is_ok() {}
        let (frequency, spreading_factor, bandwidth) = params(&config.rf);
        self.tx_at = Instant::now();
        self.air
            .uplinks
            .send(Transmission {
                phy_payload: buf.to_vec(),
                frequency,
                spreading_factor,
                bandwidth,
                code_rate_denominator: config.rf.bb.cr.denom(),
            })
            .map_err(|_| "the gateway is gone".to_owned())?;
        // No time on air: the windows count from now.
        Ok(0)
    }

    async fn setup_rx(&mut self, config: RxConfig) -> Result<(), String> {
        self.rx = Some(config.rf);
        Ok(())
    }

    async fn rx_continuous(&mut self, _buf: &mut [u8]) -> Result<(usize, RxQuality), String> {
        // Class A only: nothing is ever received outside RX1 and RX2.
        std::future::pending().await
    }

    async fn rx_single(&mut self, buf: &mut [u8]) -> Result<RxStatus, String> {
        let rx = self.rx.ok_or("RX window without setup_rx")?;
        let window = Duration::from_millis(self.window.get());
        let due = self.tx_at + window;
        loop {
            if let Some(frame) = self.pending.take() {
                if frame.delay > window {
                    // Sent in a later window.
                    self.pending = Some(frame);
                    return Ok(RxStatus::RxTimeout);
                }
                if frame.delay < window {
                    // Sent in an earlier window the device did not open.
                    continue;
                }
                let sent = (frame.frequency, frame.spreading_factor, frame.bandwidth);
                if sent != params(&rx) {
                    self.missed.push(format!(
                        "sent {sent:?} (Hz, SF, Hz) {window:?} after the uplink, \
                         the device listened with {:?}",
                        params(&rx)
                    ));
                    return Ok(RxStatus::RxTimeout);
                }
                let len = frame.phy_payload.len();
                buf.get_mut(..len)
                    .ok_or("downlink larger than the radio buffer")?
                    .copy_from_slice(&frame.phy_payload);
                self.received.push(frame);
                return Ok(RxStatus::Rx(len, RxQuality::new(-60, 10)));
            }
            match tokio::time::timeout_at(due, self.air.downlinks.recv()).await {
                Ok(Some(frame)) => self.pending = Some(frame),
                Ok(None) | Err(_) => return Ok(RxStatus::RxTimeout),
            }
        }
    }
}

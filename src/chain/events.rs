//! The event hub of one chain: one websocket subscription (`tm.event='Tx'`), demultiplexed to
//! per-channel receivers, with a polling fallback over `block_results` that fills every height
//! gap after a dropped subscription or a restart, so no packet event is missed.

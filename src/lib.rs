//! Arke: a tokio-native IBC relayer.

//! The gRPC queries' pagination: key order, `next_key` pages, offsets and totals.

use super::*;

#[test]
fn packet_commitments_page_through_in_key_order() {
    let mut st = fresh();
    open_channel(&mut st, chan::Order::Unordered);
    for seq in 1..=12u64 {
        st.set(
            IBC_STORE,
            format!("commitments/ports/transfer/channels/channel-0/sequences/{seq}").into_bytes(),
            vec![seq as u8; 32],
        );
    }
    let host = host("a-1", 7);
    let mut seen = Vec::new();
    let mut key = Vec::new();
    loop {
        let req = chan::QueryPacketCommitmentsRequest {
            port_id: "transfer".to_string(),
            channel_id: "channel-0".to_string(),
            pagination: Some(ibc_proto::cosmos::base::query::v1beta1::PageRequest {
                key: key.clone(),
                limit: 5,
                count_total: key.is_empty(),
                ..Default::default()
            }),
        };
        let raw = grpc_query(
            &mut st,
            &host,
            "/ibc.core.channel.v1.Query/PacketCommitments",
            &req.encode_to_vec(),
        )
        .unwrap()
        .unwrap();
        let resp = chan::QueryPacketCommitmentsResponse::decode(raw.as_slice()).unwrap();
        let page = resp.pagination.unwrap();
        if key.is_empty() {
            assert_eq!(page.total, 12);
        }
        seen.extend(resp.commitments.iter().map(|c| c.sequence));
        if page.next_key.is_empty() {
            break;
        }
        key = page.next_key;
    }
    assert_eq!(seen, [1, 10, 11, 12, 2, 3, 4, 5, 6, 7, 8, 9]);
    let req = chan::QueryPacketCommitmentsRequest {
        port_id: "transfer".to_string(),
        channel_id: "channel-0".to_string(),
        pagination: Some(ibc_proto::cosmos::base::query::v1beta1::PageRequest {
            offset: 10,
            limit: 5,
            ..Default::default()
        }),
    };
    let raw = grpc_query(
        &mut st,
        &host,
        "/ibc.core.channel.v1.Query/PacketCommitments",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    let resp = chan::QueryPacketCommitmentsResponse::decode(raw.as_slice()).unwrap();
    assert_eq!(
        resp.commitments
            .iter()
            .map(|c| c.sequence)
            .collect::<Vec<_>>(),
        [8, 9]
    );
}

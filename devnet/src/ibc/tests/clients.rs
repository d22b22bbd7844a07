//! Clients: `MsgCreateClient` and `MsgUpdateClient` (with a signed header) through [`execute`],
//! and the numeric order of consensus-state heights.

use super::*;

#[test]
fn create_client_through_execute() {
    let mut st = fresh();
    let host = host("a-1", 20);
    let out = create_client(&mut st, &host, "b-1", 10, &[5; 32]);
    assert_eq!(event_kinds(&out), ["create_client", "message:ibc_client"]);
    assert_eq!(
        attr(&out, "create_client", "client_id").as_deref(),
        Some("07-tendermint-0")
    );
    let response = out.response.unwrap();
    assert_eq!(
        response.type_url,
        "/ibc.core.client.v1.MsgCreateClientResponse"
    );

    assert_eq!(
        st.peek(IBC_STORE, b"nextClientSequence"),
        Some(encode_u64(1))
    );
    let raw = st
        .peek(IBC_STORE, b"clients/07-tendermint-0/clientState")
        .unwrap();
    let any_cs = Any::decode(raw.as_slice()).unwrap();
    assert_eq!(
        any_cs.type_url,
        "/ibc.lightclients.tendermint.v1.ClientState"
    );
    assert!(st
        .peek(IBC_STORE, b"clients/07-tendermint-0/consensusStates/1-10")
        .is_some());
    assert_eq!(
        st.peek(
            IBC_STORE,
            b"clients/07-tendermint-0/consensusStates/1-10/processedHeight"
        ),
        Some(b"1-20".to_vec())
    );
    let time = st
        .peek(
            IBC_STORE,
            b"clients/07-tendermint-0/consensusStates/1-10/processedTime",
        )
        .unwrap();
    assert_eq!(
        decode_u64(&time),
        Some(u64::try_from(host.time_ns).unwrap())
    );

    // The second client gets the next id; queries see both.
    create_client(&mut st, &host, "c-1", 3, &[6; 32]);
    let req = client::QueryClientStatesRequest { pagination: None };
    let raw = grpc_query(
        &mut st,
        &host,
        "/ibc.core.client.v1.Query/ClientStates",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    let resp = client::QueryClientStatesResponse::decode(raw.as_slice()).unwrap();
    let ids: Vec<&str> = resp
        .client_states
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    assert_eq!(ids, ["07-tendermint-0", "07-tendermint-1"]);
    let req = client::QueryClientStatusRequest {
        client_id: "07-tendermint-1".to_string(),
    };
    let raw = grpc_query(
        &mut st,
        &host,
        "/ibc.core.client.v1.Query/ClientStatus",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        client::QueryClientStatusResponse::decode(raw.as_slice())
            .unwrap()
            .status,
        "Active"
    );
    let req = client::QueryClientStateRequest {
        client_id: "07-tendermint-9".to_string(),
    };
    let err = grpc_query(
        &mut st,
        &host,
        "/ibc.core.client.v1.Query/ClientState",
        &req.encode_to_vec(),
    )
    .unwrap()
    .unwrap_err();
    assert_eq!(err.code, 38);

    // A message signed by someone else than the tx signer is rejected.
    let msg = client::MsgCreateClient {
        client_state: Some(tm_client_state("b-1", 10).into()),
        consensus_state: Some(tm_consensus_state(&[5; 32]).into()),
        signer: addr(9),
    };
    let err = execute(&mut st, &host, &to_any(&msg), &addr(8)).unwrap_err();
    assert_eq!((err.codespace, err.code), ("sdk", 8));
}

#[test]
fn consensus_state_iteration_is_numeric() {
    let mut st = fresh();
    let host = host("a-1", 50);
    create_client(&mut st, &host, "b-1", 9, &[5; 32]);
    add_consensus_state(&mut st, &host, 10, &[6; 32]);
    add_consensus_state(&mut st, &host, 100, &[7; 32]);
    let shared = Shared::new(st.clone(), &host, "cosmos");
    let ctx = IbcContext::new(&shared);
    let id = ClientId::new("07-tendermint", 0).unwrap();
    let heights: Vec<u64> = ctx
        .consensus_heights(&id)
        .iter()
        .map(|h| h.revision_height())
        .collect();
    assert_eq!(heights, [9, 10, 100]);
    use ibc::core::client::context::ExtClientValidationContext;
    let next = ctx
        .next_consensus_state(&id, &Height::new(1, 10).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(next.inner().root.as_bytes(), &[7; 32]);
    let prev = ctx
        .prev_consensus_state(&id, &Height::new(1, 10).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(prev.inner().root.as_bytes(), &[5; 32]);
    assert!(ctx
        .next_consensus_state(&id, &Height::new(1, 100).unwrap())
        .unwrap()
        .is_none());
}

/// A header of chain `b-1` at `height`, signed by the single validator `key`.
fn signed_header(
    key: &ed25519_consensus::SigningKey,
    height: u64,
    time_secs: i64,
    app_hash: &[u8],
) -> (
    tendermint::block::signed_header::SignedHeader,
    tendermint::validator::Set,
) {
    use tendermint::block::{self, parts, Commit, CommitSig, Round};
    use tendermint::vote::{SignedVote, Type, ValidatorIndex, Vote};

    let pk = tendermint::PublicKey::from_raw_ed25519(key.verification_key().as_bytes()).unwrap();
    let validator = tendermint::validator::Info::new(pk, 10u32.into());
    let set = tendermint::validator::Set::new(vec![validator.clone()], Some(validator.clone()));
    let time = tendermint::Time::from_unix_timestamp(time_secs, 0).unwrap();
    let chain_id: tendermint::chain::Id = "b-1".parse().unwrap();
    let header = block::Header {
        version: block::header::Version { block: 11, app: 0 },
        chain_id: chain_id.clone(),
        height: block::Height::try_from(height).unwrap(),
        time,
        last_block_id: None,
        last_commit_hash: None,
        data_hash: None,
        validators_hash: set.hash(),
        next_validators_hash: set.hash(),
        consensus_hash: tendermint::Hash::Sha256([3; 32]),
        app_hash: tendermint::AppHash::try_from(app_hash.to_vec()).unwrap(),
        last_results_hash: None,
        evidence_hash: None,
        proposer_address: validator.address,
    };
    let block_id = block::Id {
        hash: header.hash(),
        part_set_header: parts::Header::new(1, tendermint::Hash::Sha256([4; 32])).unwrap(),
    };
    let vote = Vote {
        vote_type: Type::Precommit,
        height: header.height,
        round: Round::default(),
        block_id: Some(block_id),
        timestamp: Some(time),
        validator_address: validator.address,
        validator_index: ValidatorIndex::try_from(0u32).unwrap(),
        signature: None,
        extension: Vec::new(),
        extension_signature: None,
    };
    let placeholder = tendermint::Signature::try_from(vec![0u8; 64]).unwrap();
    let sign_bytes = SignedVote::new(vote, chain_id, validator.address, placeholder).sign_bytes();
    let signature = key.sign(&sign_bytes);
    let commit = Commit {
        height: header.height,
        round: Round::default(),
        block_id,
        signatures: vec![CommitSig::BlockIdFlagCommit {
            validator_address: validator.address,
            timestamp: time,
            signature: tendermint::Signature::try_from(signature.to_bytes().to_vec()).ok(),
        }],
    };
    (
        tendermint::block::signed_header::SignedHeader::new(header, commit).unwrap(),
        set,
    )
}

#[test]
fn update_client_with_a_signed_header() {
    let key = ed25519_consensus::SigningKey::from([7u8; 32]);
    let (_, set) = signed_header(&key, 10, 1_700_000_000, &[1; 32]);
    let mut a = fresh();
    let host_a = host("a-1", 30);
    // The trusted consensus state at 1-10 names this validator set as the next one.
    let consensus = TmConsensusStateType::new(
        CommitmentRoot::from_bytes(&[1; 32]),
        tendermint::Time::from_unix_timestamp(1_700_000_000, 0).unwrap(),
        set.hash(),
    );
    let create = client::MsgCreateClient {
        client_state: Some(tm_client_state("b-1", 10).into()),
        consensus_state: Some(consensus.into()),
        signer: addr(9),
    };
    execute(&mut a, &host_a, &to_any(&create), &addr(9)).unwrap();

    let update = |height: u64, time: i64, app_hash: &[u8]| {
        let (signed_header, validator_set) = signed_header(&key, height, time, app_hash);
        let header = ibc::clients::tendermint::types::Header {
            signed_header,
            validator_set: validator_set.clone(),
            trusted_height: Height::new(1, 10).unwrap(),
            trusted_next_validator_set: validator_set,
        };
        to_any(&client::MsgUpdateClient {
            client_id: "07-tendermint-0".to_string(),
            client_message: Some(header.into()),
            signer: addr(9),
        })
    };
    let out = execute(
        &mut a,
        &host_a,
        &update(11, 1_700_000_005, &[2; 32]),
        &addr(9),
    )
    .unwrap();
    assert_eq!(event_kinds(&out), ["update_client", "message:ibc_client"]);
    assert_eq!(
        attr(&out, "update_client", "consensus_heights").as_deref(),
        Some("1-11")
    );
    assert_eq!(
        out.response.unwrap().type_url,
        "/ibc.core.client.v1.MsgUpdateClientResponse"
    );
    let raw = a
        .peek(IBC_STORE, b"clients/07-tendermint-0/consensusStates/1-11")
        .unwrap();
    let stored = ibc::clients::tendermint::consensus_state::ConsensusState::try_from(
        Any::decode(raw.as_slice()).unwrap(),
    )
    .unwrap();
    assert_eq!(stored.inner().root.as_bytes(), &[2; 32]);
    assert_eq!(
        a.peek(
            IBC_STORE,
            b"clients/07-tendermint-0/consensusStates/1-11/processedHeight"
        ),
        Some(b"1-30".to_vec())
    );
    // A non-adjacent header below the latest height, from the same trusted state, also works
    // (prev/next consensus state lookups).
    execute(
        &mut a,
        &host_a,
        &update(13, 1_700_000_009, &[3; 32]),
        &addr(9),
    )
    .unwrap();
    execute(
        &mut a,
        &host_a,
        &update(12, 1_700_000_007, &[4; 32]),
        &addr(9),
    )
    .unwrap();
    let shared = Shared::new(a.clone(), &host_a, "cosmos");
    let ctx = IbcContext::new(&shared);
    let id = ClientId::new("07-tendermint", 0).unwrap();
    let heights: Vec<u64> = ctx
        .consensus_heights(&id)
        .iter()
        .map(|h| h.revision_height())
        .collect();
    assert_eq!(heights, [10, 11, 12, 13]);
    // A header signed by another key fails.
    let other = ed25519_consensus::SigningKey::from([8u8; 32]);
    let (signed_header, validator_set) = signed_header(&other, 14, 1_700_000_010, &[5; 32]);
    let header = ibc::clients::tendermint::types::Header {
        signed_header,
        validator_set: validator_set.clone(),
        trusted_height: Height::new(1, 10).unwrap(),
        trusted_next_validator_set: validator_set,
    };
    let bad = to_any(&client::MsgUpdateClient {
        client_id: "07-tendermint-0".to_string(),
        client_message: Some(header.into()),
        signer: addr(9),
    });
    let err = execute(&mut a, &host_a, &bad, &addr(9)).unwrap_err();
    assert_eq!(err.codespace, "client", "{err:?}");
}

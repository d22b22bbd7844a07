//! Several validators and a rotating set: every block is signed by all validators of its height,
//! `validators` and the headers' validator hashes agree, and after a change that keeps at most a
//! third of the power, an ibc-rs Tendermint client on another devnet accepts the new header only
//! through the last header before the change (bisection), not straight from an older one.

use std::time::Duration;

use cosmos::to_any;
use devnet::harness::TestChain;
use devnet::node::ValidatorParams;
use devnet::testing::{client_height, create_client};
use devnet::DevnetConfig;
use ibc_proto::ibc::core::client::v1::MsgUpdateClient;

const BLOCK: Duration = Duration::from_millis(150);
const ROTATE_EVERY: u64 = 8;

async fn rotating_chain() -> TestChain {
    let mut config = DevnetConfig::for_tests("devnet-1");
    config.block_time = BLOCK;
    config.validators = ValidatorParams {
        count: 4,
        rotate_every: ROTATE_EVERY,
    };
    TestChain::start_with(config).await.expect("devnet starts")
}

fn update_msg(
    host: &TestChain,
    reference: &TestChain,
    client: &str,
    target: u64,
    trusted: u64,
) -> ibc_proto::google::protobuf::Any {
    let header = reference
        .light_header(target, trusted)
        .expect("light header");
    to_any(&MsgUpdateClient {
        client_id: client.to_string(),
        client_message: Some(header),
        signer: host.address(&host.relayer),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validator_signs_and_the_set_rotates_by_more_than_two_thirds() {
    let chain = rotating_chain().await;
    chain.wait_for_height(2 * ROTATE_EVERY + 1).await.unwrap();
    let node = chain.node();
    for h in 1..=2 * ROTATE_EVERY + 1 {
        let block = node.block(h).unwrap();
        let set = node.validators(h).unwrap();
        let next = node.validators(h + 1).unwrap();
        assert_eq!(set.validators().len(), 4);
        assert_eq!(block.block.header.validators_hash, set.hash(), "height {h}");
        assert_eq!(
            block.block.header.next_validators_hash,
            next.hash(),
            "height {h}"
        );
        assert_eq!(
            block.commit.signatures.len(),
            4,
            "height {h}: all four sign"
        );
        // Every signature verifies against its validator's key over the canonical vote.
        let signed = tendermint::block::signed_header::SignedHeader::new(
            block.block.header.clone(),
            block.commit.clone(),
        )
        .unwrap();
        for (index, sig) in block.commit.signatures.iter().enumerate() {
            let tendermint::block::CommitSig::BlockIdFlagCommit {
                validator_address,
                timestamp,
                signature,
            } = sig
            else {
                panic!("height {h}: validator {index} did not sign");
            };
            let v = set
                .validator(*validator_address)
                .expect("signer is in the set");
            assert_eq!(set.validators()[index].address, *validator_address);
            let vote = tendermint::vote::Vote {
                vote_type: tendermint::vote::Type::Precommit,
                height: signed.header.height,
                round: signed.commit.round,
                block_id: Some(signed.commit.block_id),
                timestamp: Some(*timestamp),
                validator_address: *validator_address,
                validator_index: tendermint::vote::ValidatorIndex::try_from(index).unwrap(),
                signature: None,
                extension: Vec::new(),
                extension_signature: None,
            };
            let bytes = vote.into_signable_vec(signed.header.chain_id.clone());
            v.verify_signature::<tendermint::crypto::default::signature::Verifier>(
                &bytes,
                signature.as_ref().expect("signature present"),
            )
            .unwrap_or_else(|e| panic!("height {h}: signature {index}: {e}"));
        }
        let changes = h % ROTATE_EVERY == 0;
        assert_eq!(set.hash() != next.hash(), changes, "height {h}");
        if changes {
            let stay: u64 = set
                .validators()
                .iter()
                .filter(|v| next.validator(v.address).is_some())
                .map(|v| v.power.value())
                .sum();
            assert!(3 * stay <= set.total_voting_power().value(), "height {h}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_crosses_a_rotation_only_through_the_header_before_it() {
    let reference = rotating_chain().await;
    let host = TestChain::start("devnet-2", BLOCK).await.unwrap();
    // The client is created in the first epoch (heights 1 to 8).
    let client = create_client(&host, &reference).await.unwrap();
    let trusted = client_height(&host, &client).unwrap();
    assert!(
        trusted < ROTATE_EVERY,
        "client created at {trusted}, before the change"
    );
    let last_before = ROTATE_EVERY;
    let after = ROTATE_EVERY + 2;
    reference.wait_for_height(after + 1).await.unwrap();

    // Straight across the change: the old set holds too little of the new commit's power. The
    // update is refused at CheckTx (ibc-go ≥ 8.1 verifies updates there).
    let direct = host
        .submit(
            &host.relayer,
            vec![update_msg(&host, &reference, &client, after, trusted)],
        )
        .await
        .expect_err("the skipping update is rejected");
    assert!(
        direct.contains("insufficient validator overlap"),
        "rejected for the trust threshold: {direct}"
    );
    assert_eq!(client_height(&host, &client).unwrap(), trusted);

    // Through the last header of the old set, whose next validators are the new set.
    host.submit_ok(
        &host.relayer,
        vec![update_msg(&host, &reference, &client, last_before, trusted)],
    )
    .await
    .unwrap();
    assert_eq!(client_height(&host, &client).unwrap(), last_before);
    host.submit_ok(
        &host.relayer,
        vec![update_msg(&host, &reference, &client, after, last_before)],
    )
    .await
    .unwrap();
    assert_eq!(client_height(&host, &client).unwrap(), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_rpc_client_sees_the_rotating_set() {
    use tendermint_rpc::{Client, HttpClient, Paging};
    let chain = rotating_chain().await;
    chain.wait_for_height(ROTATE_EVERY + 2).await.unwrap();
    let http = HttpClient::new(chain.devnet.rpc_url().as_str()).expect("http client");
    let mut seen = Vec::new();
    for h in [ROTATE_EVERY, ROTATE_EVERY + 1] {
        let height = tendermint::block::Height::try_from(h).unwrap();
        let vals = http
            .validators(height, Paging::All)
            .await
            .expect("validators");
        assert_eq!(vals.total, 4);
        let set = tendermint::validator::Set::without_proposer(vals.validators);
        let commit = http.commit(height).await.expect("commit");
        assert_eq!(commit.signed_header.header.validators_hash, set.hash());
        assert_eq!(commit.signed_header.commit.signatures.len(), 4);
        seen.push(set);
    }
    assert_ne!(
        seen[0].hash(),
        seen[1].hash(),
        "the set changed at the epoch boundary"
    );
    let genesis = http.genesis::<serde_json::Value>().await.expect("genesis");
    assert_eq!(genesis.validators.len(), 4);
}

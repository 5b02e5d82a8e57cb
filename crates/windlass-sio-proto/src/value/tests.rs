use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::*;

fn echo(text: &str) -> String {
    Value::from_json(text).unwrap().to_json()
}

#[test]
fn prints_what_json_stringify_prints() {
    // Node 20: JSON.stringify(JSON.parse(x)).
    assert_eq!(
        echo(r#"{"b":1,"2":2,"1":3,"a":4,"b":5, "4294967295":6, "4294967294":7, "01":8}"#),
        r#"{"1":3,"2":2,"4294967294":7,"b":5,"a":4,"4294967295":6,"01":8}"#
    );
    assert_eq!(
        echo(
            "[1.0, 1e21, -0, 123456789012345678901, 0.30000000000000004, 1e-7, 5e-324, 9007199254740993, -0.0, 1E2, 1e400]"
        ),
        "[1,1e+21,0,123456789012345680000,0.30000000000000004,1e-7,5e-324,9007199254740992,0,100,null]"
    );
    // Hex dump of Node's output for "\u007f\u0000\u001f\u2028\ud800\udc00é\"\\/\b\f\n\r\t\u000b".
    assert_eq!(
        echo(r#"["\u007f\u0000\u001f\u2028\ud800\udc00\u00e9\"\\\/\b\f\n\r\t\u000B"]"#),
        "[\"\u{7f}\\u0000\\u001f\u{2028}\u{10000}é\\\"\\\\/\\b\\f\\n\\r\\t\\u000b\"]"
    );
    assert_eq!(echo(" { \"a\" : [ true , false , null ] } \n"), r#"{"a":[true,false,null]}"#);
    assert_eq!(Value::Binary(Bytes::from_static(&[1, 2])).to_json(), r#"{"type":"Buffer","data":[1,2]}"#);
    assert_eq!(Value::from(f64::NAN).to_json(), "null");
    assert_eq!(Value::from(u64::MAX).to_json(), "18446744073709551615");
    assert_eq!(Value::from(i64::MIN).to_json(), "-9223372036854775808");
    assert_eq!(Value::from(0.1f64).to_json(), "0.1");
}

#[test]
fn refuses_what_json_parse_refuses() {
    for bad in [
        "",
        " ",
        "[",
        "[1,]",
        "{\"a\":1,}",
        "01",
        "1.",
        ".1",
        "-",
        "1e",
        "+1",
        "NaN",
        "'a'",
        "\"\t\"",
        "\"\\x\"",
        "\"\\u12\"",
        "[1] 2",
        "{a:1}",
        "\u{a0}1",
        "tru",
        "nul",
    ] {
        assert!(matches!(Value::from_json(bad), Err(JsonError::Syntax(_))), "{bad:?}");
    }
    for lone in [r#""\ud800""#, r#""\udc00""#, r#""\ud800\u0041""#, r#""\ud800x""#] {
        assert!(matches!(Value::from_json(lone), Err(JsonError::LoneSurrogate(1))), "{lone}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "[".repeat(100_000);
    assert_eq!(Value::from_json(&deep), Err(JsonError::TooDeep(DEFAULT_MAX_DEPTH)));
    let deep_obj = "{\"a\":".repeat(100_000);
    assert_eq!(Value::from_json(&deep_obj), Err(JsonError::TooDeep(DEFAULT_MAX_DEPTH)));
    let ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert!(Value::from_json(&ok).is_ok());
    let too = format!("{}{}", "[".repeat(129), "]".repeat(129));
    assert_eq!(Value::from_json(&too), Err(JsonError::TooDeep(128)));
}

#[test]
fn numbers_keep_integers_exact() {
    assert_eq!(Value::from_json("1.0").unwrap(), Value::from(1));
    assert_eq!(Value::from_json("9007199254740991").unwrap().as_u64(), Some(MAX_SAFE_INTEGER));
    assert_eq!(Value::from_json("-5").unwrap().as_i64(), Some(-5));
    assert_eq!(Value::from_json("0.5").unwrap().as_f64(), Some(0.5));
    assert_eq!(Value::from_json("0.5").unwrap().as_i64(), None);
    assert_eq!(Number::from(-0.0), Number::from(0));
}

#[test]
fn map_keeps_javascript_order() {
    let mut map = Map::new();
    map.insert("b", 1.into());
    map.insert("10", 2.into());
    map.insert("a", 3.into());
    map.insert("2", 4.into());
    assert_eq!(map.insert("b", 5.into()), Some(Value::from(1)));
    assert_eq!(map.keys().collect::<Vec<_>>(), ["2", "10", "b", "a"]);
    assert_eq!(map.remove("10"), Some(Value::from(2)));
    assert_eq!(Value::Object(map).to_json(), r#"{"2":4,"b":5,"a":3}"#);
    // Many duplicates parse in O(n log n) and keep the first position, last value.
    let big: String = (0..5000).map(|i| format!("\"k{}\":{i}", i % 100)).collect::<Vec<_>>().join(",");
    let v = Value::from_json(&format!("{{{big}}}")).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 100);
    assert_eq!(v.get("k0"), Some(&Value::from(4900)));
    assert_eq!(v.as_object().unwrap().keys().next(), Some("k0"));
}

#[test]
fn small_parsed_objects_keep_json_parse_order() {
    // Distinct names: as written (the fast path).
    let v = Value::from_json(r#"{"z":1,"a":2,"m":3}"#).unwrap();
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["z", "a", "m"]);
    // A duplicate or an array index among few names: JSON.parse's order all the same.
    let v = Value::from_json(r#"{"b":1,"2":2,"a":3,"b":4}"#).unwrap();
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["2", "b", "a"]);
    assert_eq!(v.get("b"), Some(&Value::from(4)));
    let v = Value::from_json(r#"{"x":1,"10":2,"1":3}"#).unwrap();
    assert_eq!(v.to_json(), r#"{"1":3,"10":2,"x":1}"#);
    let v = Value::from_json(r#"{"07":1,"7":2}"#).unwrap();
    assert_eq!(v.to_json(), r#"{"7":2,"07":1}"#);
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Chat {
    from: String,
    seq: u64,
    tags: Vec<String>,
    reply: Option<Box<Chat>>,
    kind: Kind,
    #[serde(with = "bytes_as_binary")]
    blob: Vec<u8>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Kind {
    Plain,
    Quote { of: u32 },
}

mod bytes_as_binary {
    pub(super) fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

#[test]
fn serde_round_trips_in_field_order() {
    let chat = Chat {
        from: "ann".into(),
        seq: 7,
        tags: vec!["x".into()],
        reply: None,
        kind: Kind::Quote { of: 3 },
        blob: vec![1, 2],
    };
    let v = to_value(&chat).unwrap();
    assert_eq!(
        v.to_json(),
        r#"{"from":"ann","seq":7,"tags":["x"],"reply":null,"kind":{"Quote":{"of":3}},"blob":{"type":"Buffer","data":[1,2]}}"#
    );
    assert_eq!(v.get("blob"), Some(&Value::Binary(Bytes::from_static(&[1, 2]))));
    let back: Chat = from_value(v.clone()).unwrap();
    assert_eq!(back, chat);
    assert_eq!(to_value(&Kind::Plain).unwrap(), Value::from("Plain"));
    assert_eq!(from_value::<Kind>(Value::from("Plain")).unwrap(), Kind::Plain);
    assert!(from_value::<u8>(Value::from(300)).is_err());
    assert!(from_value::<Chat>(Value::from("x")).is_err());
    // Value through serde itself (serde_json as the other side).
    let text = serde_json::to_string(&v).unwrap();
    assert!(text.contains(r#""blob":[1,2]"#), "{text}");
    let from_json: Value = serde_json::from_str(r#"{"b":[1,2.5,null],"a":"x"}"#).unwrap();
    assert_eq!(from_json.to_json(), r#"{"b":[1,2.5,null],"a":"x"}"#);
}

#[test]
fn serde_json_conversions() {
    let sj = serde_json::json!({"z": 1, "a": [true, null, 1.5, -3, u64::MAX], "9": "x"});
    let v = Value::from(sj.clone());
    // serde_json's map is sorted; ours then applies JS order (index keys first).
    assert_eq!(v.to_json(), r#"{"9":"x","a":[true,null,1.5,-3,18446744073709551615],"z":1}"#);
    assert_eq!(serde_json::Value::try_from(v).unwrap(), sj);
    assert_eq!(serde_json::Value::try_from(Value::Binary(Bytes::new())), Err(BinaryInJson));
    assert_eq!(serde_json::Value::try_from(Value::from(f64::INFINITY)).unwrap(), serde_json::Value::Null);
}

mod collecting {
    use proptest::prelude::*;

    use super::*;

    fn key() -> impl Strategy<Value = String> {
        prop_oneof!["[0-9]{1,3}", "[a-c]{1,2}", Just("01".to_owned()), Just("4294967295".to_owned())]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn collecting_members_is_inserting_them_one_by_one(entries in prop::collection::vec((key(), any::<u8>()), 0..40)) {
            let entries: Vec<(String, Value)> = entries.into_iter().map(|(k, n)| (k, Value::from(n))).collect();
            let mut inserted = Map::new();
            for (k, v) in entries.clone() {
                inserted.insert(k, v);
            }
            prop_assert_eq!(entries.into_iter().collect::<Map>(), inserted);
        }
    }

    #[test]
    fn a_hundred_thousand_members_are_collected_at_once() {
        let map: Map = (0..100_000)
            .map(|i| (format!("k{i}"), Value::Null))
            .chain([("k7".to_owned(), Value::Bool(true))])
            .collect();
        assert_eq!(map.len(), 100_000);
        assert_eq!(map.get("k7"), Some(&Value::Bool(true)));
        assert_eq!(map.keys().nth(7), Some("k7"));
    }
}

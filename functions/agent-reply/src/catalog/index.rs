//! The catalog's tantivy index: built by the import, shipped to S3 as one tar bundle,
//! opened in memory by the function.
//!
//! - `name` (name, English name, brand, SKU words) and `body` (category, description)
//!   go through one analyzer that stems each word with the stemmer of its script:
//!   Cyrillic with Russian Snowball, Latin with English, so mixed ru/en price lists
//!   and queries meet on stems (`насосы` → `насос`, `pumps` → `pump`).
//! - `sku` holds the SKU normalised to lowercase letters and digits: exact, prefix and
//!   one-typo matches, whatever spacing or dashes the customer used.
//! - A query word missing from the term dictionary is searched with a Levenshtein
//!   automaton (typos); a known word is searched exactly (BM25), which keeps queries
//!   fast and precise.

use super::{CatalogError, CatalogItem};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use tantivy::collector::TopDocs;
use tantivy::directory::RamDirectory;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, StopWordFilter,
    TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy::{Directory, Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

const ANALYZER: &str = "sauda_catalog";
const SKU_ANALYZER: &str = "sauda_sku";
/// Bump when the schema or analyzers change: an index of another version is refused.
pub const INDEX_FORMAT: u32 = 1;

#[derive(Clone, Copy)]
struct Fields {
    name: Field,
    body: Field,
    sku: Field,
    item: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |analyzer: &str, record: IndexRecordOption| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer)
                .set_index_option(record),
        )
    };
    let name = builder.add_text_field("name", text(ANALYZER, IndexRecordOption::WithFreqs));
    let body = builder.add_text_field("body", text(ANALYZER, IndexRecordOption::WithFreqs));
    let sku = builder.add_text_field("sku", text(SKU_ANALYZER, IndexRecordOption::Basic));
    let item = builder.add_text_field("item", STORED);
    (
        builder.build(),
        Fields {
            name,
            body,
            sku,
            item,
        },
    )
}

fn register_analyzers(index: &Index) {
    let mut builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter_dynamic(ScriptStemmer);
    // Both lists: catalogs and questions mix the two languages.
    for language in [Language::Russian, Language::English] {
        if let Some(stop) = StopWordFilter::new(language) {
            builder = builder.filter_dynamic(stop);
        }
    }
    index.tokenizers().register(ANALYZER, builder.build());
    index.tokenizers().register(
        SKU_ANALYZER,
        TextAnalyzer::builder(RawTokenizer::default()).build(),
    );
}

/// Lowercase letters and digits only: `CR 10-2 A` and `cr10-2a` are the same SKU.
pub fn normalise_sku(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

/// Stems each token with the Snowball stemmer of its script (Russian for Cyrillic,
/// English for Latin) and folds `ё` into `е`. Tokens with digits are model codes and
/// are left alone. Kazakh words pass through the Russian stemmer, which only trims
/// Russian endings.
#[derive(Clone, Copy)]
pub struct ScriptStemmer;

impl TokenFilter for ScriptStemmer {
    type Tokenizer<T: Tokenizer> = ScriptStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> ScriptStemmerFilter<T> {
        ScriptStemmerFilter { inner: tokenizer }
    }
}

#[derive(Clone)]
pub struct ScriptStemmerFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for ScriptStemmerFilter<T> {
    type TokenStream<'a> = ScriptStemmerStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        ScriptStemmerStream {
            tail: self.inner.token_stream(text),
            russian: rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::Russian),
            english: rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English),
        }
    }
}

pub struct ScriptStemmerStream<T> {
    tail: T,
    russian: rust_stemmers::Stemmer,
    english: rust_stemmers::Stemmer,
}

fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

impl<T: TokenStream> TokenStream for ScriptStemmerStream<T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if token.text.contains('ё') {
            token.text = token.text.replace('ё', "е");
        }
        if token.text.chars().any(|c| c.is_ascii_digit()) {
            return true;
        }
        let stemmer = if token.text.chars().any(is_cyrillic) {
            &self.russian
        } else {
            &self.english
        };
        if let Cow::Owned(stemmed) = stemmer.stem(&token.text) {
            token.text = stemmed;
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// Conversational words that say nothing about which item is meant (questions about
/// price and stock are handled by the model, not by the index).
const QUERY_NOISE: &[&str] = &[
    "здравствуйте",
    "привет",
    "добрый",
    "день",
    "вечер",
    "утро",
    "сколько",
    "стоит",
    "стоимость",
    "цена",
    "цену",
    "цены",
    "есть",
    "ли",
    "наличии",
    "наличие",
    "хочу",
    "нужен",
    "нужна",
    "нужно",
    "нужны",
    "купить",
    "заказать",
    "подскажите",
    "пожалуйста",
    "можно",
    "интересует",
    "у",
    "вас",
    "какая",
    "какой",
    "какие",
    "мне",
    "hello",
    "hi",
    "how",
    "much",
    "price",
    "cost",
    "do",
    "you",
    "have",
    "is",
    "there",
    "in",
    "stock",
    "available",
    "want",
    "need",
    "buy",
    "please",
    "the",
    "a",
    "an",
    "for",
    "сәлеметсіз",
    "бе",
    "сәлем",
    "қанша",
    "тұрады",
    "бағасы",
    "бар",
    "ма",
    "ме",
];

#[derive(Clone, Debug)]
pub struct Hit {
    pub item: CatalogItem,
    pub score: f32,
}

/// The most one file of an index bundle may hold (a 40,000-item index is 8.5 MiB).
pub const MAX_ENTRY_BYTES: u64 = 256 * 1024 * 1024;

/// An opened catalog index, ready to search. Cheap to share behind an `Arc`.
pub struct CatalogIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// Approximate memory held (the bundle's size; the RAM directory holds its files).
    pub bytes: usize,
    pub items: u64,
}

impl CatalogIndex {
    /// Builds an in-memory index of `items`; `progress(done, total)` is called while adding.
    pub fn build(
        items: &[CatalogItem],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self, CatalogError> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        register_analyzers(&index);
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 100_000_000)?;
        for (i, item) in items.iter().enumerate() {
            if i % 1_000 == 0 {
                progress(i, items.len());
            }
            let mut doc = TantivyDocument::default();
            let mut name = format!("{} {}", item.name, item.sku);
            for extra in [&item.name_en, &item.brand].into_iter().flatten() {
                name.push(' ');
                name.push_str(extra);
            }
            doc.add_text(fields.name, &name);
            let body: Vec<&str> = [&item.category, &item.description]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            if !body.is_empty() {
                doc.add_text(fields.body, body.join(" "));
            }
            doc.add_text(fields.sku, normalise_sku(&item.sku));
            let json = serde_json::to_string(item)
                .map_err(|e| CatalogError::Index(format!("item {}: {e}", item.sku)))?;
            doc.add_text(fields.item, json);
            writer.add_document(doc)?;
        }
        writer.commit()?;
        // One segment: fewer files to ship and the fastest searches.
        let segments = index.searchable_segment_ids()?;
        if segments.len() > 1 {
            writer.merge(&segments).wait()?;
        }
        writer.wait_merging_threads()?;
        progress(items.len(), items.len());
        Self::open(index, fields, 0)
    }

    fn open(index: Index, fields: Fields, bytes: usize) -> Result<Self, CatalogError> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let items = reader.searcher().num_docs();
        Ok(Self {
            index,
            reader,
            fields,
            bytes,
            items,
        })
    }

    /// The index's files as one uncompressed tar (the segment files are compressed
    /// already), with a format marker so an incompatible build is refused on load.
    pub fn to_bundle(&self) -> Result<Vec<u8>, CatalogError> {
        let mut files: BTreeSet<PathBuf> = BTreeSet::new();
        files.insert(PathBuf::from("meta.json"));
        for segment in self.index.searchable_segment_metas()? {
            files.extend(segment.list_files());
        }
        let mut tar = tar::Builder::new(Vec::new());
        let marker = format!("{{\"format\":{INDEX_FORMAT}}}");
        append(&mut tar, Path::new("sauda-index.json"), marker.as_bytes())?;
        for path in files {
            let data = match self.index.directory().atomic_read(&path) {
                Ok(data) => data,
                // Components a segment does not have (no deletes, say) are listed too.
                Err(tantivy::directory::error::OpenReadError::FileDoesNotExist(_)) => continue,
                Err(e) => return Err(CatalogError::Index(e.to_string())),
            };
            append(&mut tar, &path, &data)?;
        }
        tar.into_inner()
            .map_err(|e| CatalogError::Index(format!("bundle: {e}")))
    }

    /// Opens a bundle made by [`to_bundle`](Self::to_bundle), in memory. Every entry
    /// is read under a cap, whatever its tar header claims.
    pub fn from_bundle(bundle: &[u8]) -> Result<Self, CatalogError> {
        let directory = RamDirectory::create();
        let mut archive = tar::Archive::new(bundle);
        let mut format_ok = false;
        let entries = archive
            .entries()
            .map_err(|e| CatalogError::Index(format!("bundle: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| CatalogError::Index(format!("bundle: {e}")))?;
            let path = entry
                .path()
                .map_err(|e| CatalogError::Index(format!("bundle: {e}")))?
                .into_owned();
            if path.components().count() != 1 {
                return Err(CatalogError::Index(format!(
                    "bundle: unexpected path {}",
                    path.display()
                )));
            }
            // The header's size is a claim: no entry can be larger than the bundle
            // holding it, nor than the cap, and nothing is allocated before that holds.
            let cap = MAX_ENTRY_BYTES.min(bundle.len() as u64);
            if entry.size() > cap {
                return Err(CatalogError::Index(format!(
                    "bundle: {} claims {} bytes, more than the {cap} allowed",
                    path.display(),
                    entry.size()
                )));
            }
            let mut data = Vec::with_capacity(entry.size() as usize);
            (&mut entry)
                .take(cap)
                .read_to_end(&mut data)
                .map_err(|e| CatalogError::Index(format!("bundle: {e}")))?;
            if path == Path::new("sauda-index.json") {
                let marker: serde_json::Value = serde_json::from_slice(&data).unwrap_or_default();
                format_ok = marker["format"] == INDEX_FORMAT;
                continue;
            }
            directory
                .atomic_write(&path, &data)
                .map_err(|e| CatalogError::Index(format!("bundle: {e}")))?;
        }
        if !format_ok {
            return Err(CatalogError::Index(format!(
                "the index was built by an incompatible version (expected format {INDEX_FORMAT}); re-import the catalog"
            )));
        }
        let index = Index::open(directory)?;
        register_analyzers(&index);
        let (_, fields) = schema();
        Self::open(index, fields, bundle.len())
    }

    /// Stemmed terms of a text, as the index sees them.
    fn analyse(&self, text: &str) -> Vec<String> {
        let mut analyzer = self
            .index
            .tokenizers()
            .get(ANALYZER)
            .expect("registered at open");
        let mut stream = analyzer.token_stream(text);
        let mut terms = Vec::new();
        while stream.advance() {
            let t = stream.token().text.clone();
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        terms
    }

    /// The `k` best items for a free-text question (Russian, English, SKUs, typos).
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit> {
        if k == 0 {
            return Vec::new();
        }
        let lowered = query.to_lowercase();
        let words: Vec<&str> = lowered
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(32)
            .collect();
        let meaningful: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !QUERY_NOISE.contains(w))
            .collect();
        let searcher = self.reader.searcher();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let boost = |q: Box<dyn Query>, b: f32| -> (Occur, Box<dyn Query>) {
            (Occur::Should, Box::new(BoostQuery::new(q, b)))
        };
        for term_text in self.analyse(&meaningful.join(" ")) {
            let mut known = false;
            for (field, weight) in [(self.fields.name, 2.0), (self.fields.body, 0.7)] {
                let term = Term::from_field_text(field, &term_text);
                if searcher.doc_freq(&term).unwrap_or(0) > 0 {
                    known = true;
                    clauses.push(boost(
                        Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                        weight,
                    ));
                }
            }
            let chars = term_text.chars().count();
            if !known && chars >= 4 {
                let distance = if chars >= 8 { 2 } else { 1 };
                let term = Term::from_field_text(self.fields.name, &term_text);
                clauses.push(boost(
                    Box::new(FuzzyTermQuery::new(term, distance, true)),
                    1.0,
                ));
            }
        }
        for candidate in sku_candidates(&words) {
            let len = candidate.chars().count();
            let term = Term::from_field_text(self.fields.sku, &candidate);
            clauses.push(boost(
                Box::new(TermQuery::new(term.clone(), IndexRecordOption::Basic)),
                12.0,
            ));
            if len >= 4 {
                clauses.push(boost(
                    Box::new(FuzzyTermQuery::new_prefix(term.clone(), 0, true)),
                    4.0,
                ));
            }
            if len >= 5 {
                clauses.push(boost(Box::new(FuzzyTermQuery::new(term, 1, true)), 3.0));
            }
        }
        if clauses.is_empty() {
            return Vec::new();
        }
        let query = BooleanQuery::new(clauses);
        let top = match searcher.search(&query, &TopDocs::with_limit(k)) {
            Ok(top) => top,
            Err(e) => {
                tracing::warn!(error = %e, "catalog search failed");
                return Vec::new();
            }
        };
        top.into_iter()
            .filter_map(|(score, address)| {
                let doc: TantivyDocument = searcher.doc(address).ok()?;
                let json = doc.get_first(self.fields.item)?.as_str()?;
                let item = serde_json::from_str(json).ok()?;
                Some(Hit { item, score })
            })
            .collect()
    }
}

impl CatalogIndex {
    /// The item whose SKU is exactly `sku` (spaces around it aside): what an order is
    /// priced from. Normalised SKUs can collide (`CR-10`, `CR10`), so the stored SKU
    /// must match as written.
    pub fn by_sku(&self, sku: &str) -> Option<CatalogItem> {
        let wanted = sku.trim();
        let normalised = normalise_sku(wanted);
        if normalised.is_empty() {
            return None;
        }
        let searcher = self.reader.searcher();
        let term = Term::from_field_text(self.fields.sku, &normalised);
        let query = TermQuery::new(term, IndexRecordOption::Basic);
        let top = searcher.search(&query, &TopDocs::with_limit(16)).ok()?;
        top.into_iter().find_map(|(_, address)| {
            let doc: TantivyDocument = searcher.doc(address).ok()?;
            let json = doc.get_first(self.fields.item)?.as_str()?;
            let item: CatalogItem = serde_json::from_str(json).ok()?;
            (item.sku.trim() == wanted).then_some(item)
        })
    }
}

fn append(tar: &mut tar::Builder<Vec<u8>>, path: &Path, data: &[u8]) -> Result<(), CatalogError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, path, data)
        .map_err(|e| CatalogError::Index(format!("bundle: {e}")))
}

/// SKU-like strings in a question: words with digits, and runs of up to three
/// adjacent words joined (customers type `CR 10-2` for `CR10-2`).
fn sku_candidates(words: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for start in 0..words.len() {
        let mut joined = String::new();
        for word in words.iter().skip(start).take(3) {
            joined.push_str(&normalise_sku(word));
            let has_digit = joined.chars().any(|c| c.is_ascii_digit());
            let has_letter = joined.chars().any(char::is_alphabetic);
            if has_digit
                && (has_letter || joined.len() >= 4)
                && joined.len() >= 3
                && !out.contains(&joined)
            {
                out.push(joined.clone());
            }
        }
        if out.len() >= 12 {
            break;
        }
    }
    out.truncate(12);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Availability;

    fn item(sku: &str, name: &str, category: &str) -> CatalogItem {
        CatalogItem {
            sku: sku.into(),
            name: name.into(),
            name_en: None,
            price_minor: Some(100_000),
            currency: Some("KZT".into()),
            availability: Availability::InStock,
            quantity: None,
            url: None,
            photo_url: None,
            category: Some(category.into()),
            brand: None,
            description: None,
        }
    }

    fn catalog() -> CatalogIndex {
        let mut items = vec![
            item("GR-CR10-2", "Насос Grundfos CR 10-2 вертикальный", "Насосы"),
            item(
                "WL-STRAT-25",
                "Циркуляционный насос Wilo Stratos 25/1-6",
                "Насосы",
            ),
            item(
                "DN-VLV-15",
                "Шаровый кран Danfoss 1/2\"",
                "Краны и задвижки",
            ),
            item("BS-DRILL-18", "Cordless drill Bosch GSR 18V", "Tools"),
            item("ZD-100", "Задвижка чугунная Ду100", "Краны и задвижки"),
        ];
        items[3].name_en = Some("Cordless drills".into());
        CatalogIndex::build(&items, |_, _| {}).unwrap()
    }

    fn skus(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.item.sku.as_str()).collect()
    }

    #[test]
    fn by_sku_finds_exactly_the_sku_written() {
        let c = catalog();
        assert_eq!(
            c.by_sku("GR-CR10-2").unwrap().name,
            "Насос Grundfos CR 10-2 вертикальный"
        );
        assert_eq!(c.by_sku(" ZD-100 ").unwrap().sku, "ZD-100");
        assert!(
            c.by_sku("GRCR102").is_none(),
            "normalised alike is not the same SKU"
        );
        assert!(c.by_sku("GR-CR10").is_none());
        assert!(c.by_sku("--").is_none());
    }

    #[test]
    fn russian_morphology_matches_other_word_forms() {
        let c = catalog();
        assert_eq!(skus(&c.search("насосы", 5))[..2].len(), 2);
        assert!(skus(&c.search("нужны задвижки", 5)).starts_with(&["ZD-100"]));
        assert_eq!(skus(&c.search("кранов Danfoss", 1)), ["DN-VLV-15"]);
    }

    #[test]
    fn english_morphology_and_mixed_queries() {
        let c = catalog();
        assert_eq!(skus(&c.search("drilling", 1)), ["BS-DRILL-18"]);
        assert_eq!(
            skus(&c.search("Сколько стоит насос Grundfos?", 1)),
            ["GR-CR10-2"]
        );
    }

    #[test]
    fn typos_in_names_and_skus() {
        let c = catalog();
        assert_eq!(skus(&c.search("Grundfos насус", 1)), ["GR-CR10-2"]);
        assert_eq!(skus(&c.search("задвижкка", 1)), ["ZD-100"]);
        assert_eq!(skus(&c.search("Grundfoss", 1)), ["GR-CR10-2"]);
        assert_eq!(skus(&c.search("wl strat 52", 1)), ["WL-STRAT-25"]);
        assert_eq!(skus(&c.search("артикул GR CR10 2", 1)), ["GR-CR10-2"]);
        assert_eq!(skus(&c.search("GRCR102", 1)), ["GR-CR10-2"]);
    }

    #[test]
    fn noise_finds_nothing() {
        let c = catalog();
        assert!(c.search("Здравствуйте! Сколько стоит?", 3).is_empty());
        assert!(c.search("", 3).is_empty());
    }

    #[test]
    fn bundle_round_trips() {
        let c = catalog();
        let bundle = c.to_bundle().unwrap();
        let opened = CatalogIndex::from_bundle(&bundle).unwrap();
        assert_eq!(opened.items, 5);
        assert_eq!(skus(&opened.search("задвижка", 1)), ["ZD-100"]);
        assert!(CatalogIndex::from_bundle(b"not a tar").is_err());
    }

    /// A tar whose header claims `size` bytes for `meta.json`, followed by 512 bytes.
    fn lying_tar(size: u64) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        header.set_path("meta.json").unwrap();
        header.set_mode(0o644);
        header.set_size(size);
        header.set_cksum();
        let mut bundle = header.as_bytes().to_vec();
        bundle.extend_from_slice(&[b'{'; 512]);
        bundle
    }

    #[test]
    fn a_tar_header_claiming_a_huge_size_is_refused_without_allocating_it() {
        for size in [1 << 40, u64::MAX / 2, 10 * 1024 * 1024] {
            let err = CatalogIndex::from_bundle(&lying_tar(size))
                .err()
                .expect("refused");
            assert!(err.to_string().contains("claims"), "{size}: {err}");
        }
    }
}

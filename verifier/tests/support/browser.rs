//! Headless Chromium for the portal's tests: Debian's `chromium` driven
//! through `chromedriver` (WebDriver), both installed on first use. Each
//! browser gets a fresh profile, makes no outside connections, and can run
//! with JavaScript off. [`Browser::axe`] runs axe-core (pinned in
//! `interop/`) on the current page.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Map, Value};

#[path = "../../../keys/tests/support/mod.rs"]
mod node;

/// Chromium itself (`/usr/bin/chromium` is a wrapper script).
const CHROMIUM: &str = "/usr/lib/chromium/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// A font with Chinese glyphs, so that screenshots show the Chinese pages.
const CJK_FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";

/// How long a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(30);

/// How a browser is started.
pub struct Options {
    /// Whether pages run scripts.
    pub javascript: bool,
    /// The window's width in CSS pixels (the height is 900).
    pub width: u32,
    /// The `Accept-Language` the browser sends, such as `zh-CN,zh`.
    pub languages: &'static str,
}

/// One headless Chromium with its chromedriver.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    runtime: tokio::runtime::Runtime,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where the tests' screenshots go: `target/portal-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("portal-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    /// Installs Chromium if it is missing, starts chromedriver on a free
    /// port and opens a session.
    pub fn start(options: Options) -> Browser {
        let packages = ["chromium", "chromium-driver", "fonts-wqy-microhei"];
        super::apt::install(&packages, || {
            [CHROMIUM, CHROMEDRIVER, CJK_FONT]
                .iter()
                .all(|p| Path::new(p).is_file())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let mut prefs = Map::new();
        prefs.insert("intl.accept_languages".into(), json!(options.languages));
        if !options.javascript {
            prefs.insert(
                "profile.managed_default_content_settings.javascript".into(),
                json!(2),
            );
        }
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={},900", options.width),
            format!("--lang={}", options.languages.split(',').next().unwrap()),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut chrome = json!({ "binary": CHROMIUM, "args": args, "prefs": prefs });
        if options.width < 500 {
            // A window is never narrower than 500 px: a phone's width needs
            // the phone's viewport.
            chrome["mobileEmulation"] = json!({
                "deviceMetrics": { "width": options.width, "height": 800, "pixelRatio": 1.0 }
            });
        }
        let mut capabilities = Map::new();
        capabilities.insert("goog:chromeOptions".into(), chrome);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = runtime.block_on(
                ClientBuilder::new(connector)
                    .capabilities(capabilities.clone())
                    .connect(&url),
            );
            match attempt {
                Ok(client) => break client,
                Err(e) if started.elapsed() > WAIT => panic!("no WebDriver session: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        Browser {
            client: Some(client),
            driver,
            runtime,
            _profile: profile,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    fn run<T>(&self, future: impl Future<Output = T>) -> T {
        self.runtime.block_on(future)
    }

    /// The first element matching `locator`, waiting for it to appear.
    async fn find(&self, locator: Locator<'_>) -> Element {
        match self
            .client()
            .wait()
            .at_most(WAIT)
            .for_element(locator)
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let page = self.client().source().await.unwrap_or_default();
                panic!("no {locator:?}: {e}\n{page}")
            }
        }
    }

    /// Opens `url` and waits for it to load.
    pub fn goto(&self, url: &str) {
        self.run(self.client().goto(url)).unwrap();
    }

    /// The current address.
    pub fn url(&self) -> String {
        self.run(self.client().current_url()).unwrap().to_string()
    }

    /// The page's HTML as it is now.
    pub fn source(&self) -> String {
        self.run(self.client().source()).unwrap()
    }

    /// The text of the first element matching `css`.
    pub fn text(&self, css: &str) -> String {
        self.run(async { self.find(Locator::Css(css)).await.text().await.unwrap() })
    }

    /// An attribute of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.run(async {
            let element = self.client().find(Locator::Css(css)).await.ok()?;
            element.attr(name).await.ok().flatten()
        })
    }

    /// Clicks `element` and waits until the page it leads to has replaced
    /// this one.
    async fn follow(&self, element: Element) {
        let page = self.find(Locator::Css("html")).await;
        element.click().await.unwrap();
        let started = Instant::now();
        while page.tag_name().await.is_ok() {
            assert!(started.elapsed() < WAIT, "the click led nowhere");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the first element matching `css`, and waits for the page it
    /// leads to.
    pub fn click(&self, css: &str) {
        self.run(async {
            let element = self.find(Locator::Css(css)).await;
            self.follow(element).await
        });
    }

    /// Clicks the link or button whose text is `text`, and waits for the
    /// page it leads to.
    pub fn click_text(&self, text: &str) {
        self.run(async {
            let xpath = format!("//*[(self::a or self::button) and normalize-space(.)='{text}']");
            let element = self.find(Locator::XPath(&xpath)).await;
            self.follow(element).await
        });
    }

    /// Clicks the first element matching `css`, on a page that stays.
    pub fn press(&self, css: &str) {
        self.run(async { self.find(Locator::Css(css)).await.click().await.unwrap() });
    }

    /// Types `value` into the field matching `css`, replacing its text.
    pub fn fill(&self, css: &str, value: &str) {
        self.run(async {
            let field = self.find(Locator::Css(css)).await;
            field.clear().await.unwrap();
            field.send_keys(value).await.unwrap()
        });
    }

    /// Chooses the file at `path` in the file input matching `css`.
    pub fn upload(&self, css: &str, path: &Path) {
        self.run(async {
            let input = self.find(Locator::Css(css)).await;
            input.send_keys(path.to_str().unwrap()).await.unwrap()
        });
    }

    /// Waits until `ready` holds of the page's HTML, without reloading it.
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let html = self.source();
            if ready(&html) {
                return html;
            }
            assert!(started.elapsed() < WAIT, "waited for {what}:\n{html}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs an asynchronous script in the page: it ends by calling its last
    /// argument with the value.
    pub fn script_async(&self, script: &str) -> Value {
        self.run(self.client().execute_async(script, vec![]))
            .unwrap()
    }

    /// Runs a script in the page and returns its value.
    pub fn script(&self, script: &str) -> Value {
        self.run(self.client().execute(script, vec![])).unwrap()
    }

    /// Saves a PNG of the window as `target/portal-screenshots/NAME.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.run(self.client().screenshot()).unwrap();
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs axe-core on the page (WCAG 2.0, 2.1 and 2.2, levels A and AA)
    /// and returns its violations as `(rule, impact, nodes)`.
    pub fn axe(&self) -> Vec<(String, String, usize)> {
        let source =
            std::fs::read_to_string(node::node_tools().join("node_modules/axe-core/axe.min.js"))
                .expect("axe-core is installed in interop/");
        self.run(self.client().execute(&source, vec![])).unwrap();
        let script = "const done = arguments[arguments.length - 1];
            axe.run(document, { runOnly: { type: 'tag', values:
                ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
              .then(r => done(r.violations.map(v => [v.id, v.impact || '', v.nodes.length])))
              .catch(e => done([['axe failed: ' + e, 'critical', 0]]));";
        let found = self
            .run(self.client().execute_async(script, vec![]))
            .unwrap();
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v[0].as_str().unwrap_or_default().to_string(),
                    v[1].as_str().unwrap_or_default().to_string(),
                    v[2].as_u64().unwrap_or(0) as usize,
                )
            })
            .collect()
    }

    /// Checks that axe finds no serious or critical violation on the page.
    pub fn assert_accessible(&self, page: &str) -> Vec<(String, String, usize)> {
        let violations = self.axe();
        let serious: Vec<_> = violations
            .iter()
            .filter(|(_, impact, _)| impact == "serious" || impact == "critical")
            .collect();
        assert!(serious.is_empty(), "{page}: {serious:?}");
        if !violations.is_empty() {
            eprintln!("axe, {page}: {violations:?}");
        }
        violations
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

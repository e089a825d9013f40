// The widget's styles, injected into its shadow root (no separate CSS file to host).
export const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.launcher { position: fixed; right: 20px; bottom: 20px; width: 60px; height: 60px; border-radius: 50%;
  border: none; background: #1f6feb; color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); z-index: 2147483000; }
.launcher:focus-visible, button:focus-visible, textarea:focus-visible, .log:focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
.badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 5px; border-radius: 10px;
  background: #d1242f; color: #fff; font-size: 12px; line-height: 20px; }
.panel { position: fixed; right: 20px; bottom: 92px; width: 360px; max-width: calc(100vw - 40px); height: 520px;
  max-height: calc(100vh - 120px); display: flex; flex-direction: column; background: #fff; color: #1f2328;
  border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.3); overflow: hidden; z-index: 2147483000; }
.panel[hidden] { display: none; }
header { display: flex; align-items: center; gap: 8px; padding: 12px 14px; background: #1f6feb; color: #fff; }
header h2 { flex: 1; margin: 0; font-size: 16px; font-weight: 600; }
.conn { font-size: 12px; opacity: .9; }
.close { background: none; border: none; color: #fff; font-size: 24px; line-height: 1; cursor: pointer; padding: 0 4px; }
.log { flex: 1; overflow-y: auto; padding: 10px 12px; background: #f6f8fa; }
.more { display: block; margin: 0 auto 8px; border: 1px solid #d0d7de; background: #fff; border-radius: 14px; padding: 4px 12px; cursor: pointer; font-size: 12px; }
.more[hidden] { display: none; }
.messages { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.msg { display: flex; flex-direction: column; max-width: 80%; }
.msg.mine { align-self: flex-end; align-items: flex-end; }
.msg.theirs { align-self: flex-start; align-items: flex-start; }
.who { font-size: 11px; color: #57606a; margin: 0 4px 2px; }
.bubble { padding: 8px 11px; border-radius: 14px; font-size: 14px; line-height: 1.35; word-wrap: break-word; overflow-wrap: anywhere; }
.mine .bubble { background: #1f6feb; color: #fff; border-bottom-right-radius: 4px; }
.theirs .bubble { background: #fff; color: #1f2328; border: 1px solid #d0d7de; border-bottom-left-radius: 4px; }
.bubble p { margin: 0; white-space: pre-wrap; }
.bubble img { display: block; max-width: 100%; max-height: 220px; border-radius: 8px; margin-bottom: 4px; }
.bubble a { color: inherit; }
.file { text-decoration: underline; }
.file::before { content: "\\2193  "; }
.unsupported { font-style: italic; opacity: .8; }
time, .read { font-size: 10px; color: #57606a; margin: 2px 4px 0; }
.pending { opacity: .6; }
.typing { min-height: 20px; padding: 2px 14px; font-size: 12px; color: #57606a; font-style: italic; background: #f6f8fa; }
.compose { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #d0d7de; background: #fff; }
textarea { flex: 1; resize: none; border: 1px solid #d0d7de; border-radius: 18px; padding: 8px 12px; font-size: 14px; max-height: 100px; }
.attach { border: none; background: none; color: #57606a; padding: 0 4px; cursor: pointer; display: flex; align-items: center; }
.attach:disabled { opacity: .5; cursor: progress; }
.error { margin: 0; padding: 0 14px; font-size: 12px; color: #d1242f; background: #f6f8fa; }
.error:empty { display: none; }
.send { border: none; background: #1f6feb; color: #fff; border-radius: 18px; padding: 0 16px; font-size: 14px; cursor: pointer; }
`;

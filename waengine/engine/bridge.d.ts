// The page globals bridge.js reads, typed from @wppconnect/wa-js 4.6.0's own declarations, so
// `tsc -p tsconfig.json` (tests/unit/test_contract.py) checks every WPP call the bridge makes.
type WAJS = typeof import('@wppconnect/wa-js');

// The object the gateway substitutes for __WAENGINE_CONFIG__ (engine/page.py).
interface BridgeConfig {
  inject?: boolean;
  wppConfig?: Partial<WAJS['config']>;
  undecryptableAfterMs?: number;
}

declare global {
  interface Window {
    WPP: WAJS;
    __waengine: any;
    __waengineNotify?: (payload: string) => void;
    __waengineBundle?: () => void;
  }
  var WPP: WAJS;
  const __WAENGINE_CONFIG__: BridgeConfig;
}
export {};

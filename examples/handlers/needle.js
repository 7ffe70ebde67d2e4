// A custom handler type for rill's dashboard: an analogue needle meter.
// Load it with `rill serve --handlers examples/handlers`, then create it
// from a program like any built-in type:
//
//   h = browserinterface.add_handler("Level", "needle", {"min": -60, "max": 0, "unit": "dB"})
//   h.send_data(-12.5)          # or [-12.5], or a binary frame of one value
//
// It uses the same model/view interface as the built-in types
// (docs/HANDLERS.md, "Custom handler types"): the model keeps the data and
// knows nothing of the page; the view draws the model when its tab is
// shown and the model changed.

export default function register(rill) {
  const { numParam, warn } = rill.helpers;

  rill.registerType('needle', {
    createModel(params) {
      return {
        version: 0,
        warnings: [],
        value: NaN,
        min: numParam(params, 'min', 0),
        max: numParam(params, 'max', 1),
        unit: typeof params.unit === 'string' ? params.unit : '',
        data(d) {
          const v = Array.isArray(d) ? d[0] : d;
          if (typeof v !== 'number') return warn(this, 'needle data must be a number (or a list of one)');
          this.value = v;
          this.version++;
        },
        frame(f) {
          if (f.count < 1) return warn(this, 'a needle frame needs one value');
          this.value = f.values[0];
          this.version++;
        },
      };
    },

    createView(el, model) {
      const canvas = document.createElement('canvas');
      canvas.className = 'needle';
      canvas.width = 300;
      canvas.height = 170;
      el.appendChild(canvas);
      let drawn = -1;
      return {
        draw() {
          if (drawn === model.version) return;
          drawn = model.version;
          const g = canvas.getContext('2d');
          const cx = 150, cy = 155, r = 130;
          g.clearRect(0, 0, canvas.width, canvas.height);
          g.lineWidth = 2;
          g.strokeStyle = '#555';
          g.beginPath();
          g.arc(cx, cy, r, Math.PI, 2 * Math.PI);
          g.stroke();
          const t = Math.min(1, Math.max(0, (model.value - model.min) / (model.max - model.min)));
          const a = Math.PI * (1 + (Number.isFinite(t) ? t : 0));
          g.strokeStyle = t > 0.9 ? '#c0392b' : '#1f77b4';
          g.lineWidth = 3;
          g.beginPath();
          g.moveTo(cx, cy);
          g.lineTo(cx + r * Math.cos(a), cy + r * Math.sin(a));
          g.stroke();
          g.fillStyle = '#222';
          g.font = '16px system-ui, sans-serif';
          g.textAlign = 'center';
          g.fillText(Number.isFinite(model.value) ? `${model.value.toFixed(1)} ${model.unit}` : '—', cx, cy - 30);
        },
        destroy() {
          canvas.remove();
        },
        snapshot() {
          return { value: model.value, min: model.min, max: model.max, unit: model.unit };
        },
      };
    },
  });
}

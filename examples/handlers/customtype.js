// EasyDSP's own example of a custom data handler (its js/myHandlers.js and
// docs, "Write your own data handler"), unchanged but for jQuery: a
// function of the tab's element and the parameters that returns an object
// with newData(data). rill's page offers dataHandlers.registerNewType, so
// EasyDSP's handlers load as they are (in a module, one per file here).
//
//   h = browserinterface.add_handler("Custom thing", "customtype", {"param1": True, "param2": "hello"})
//   h.send_data({"newData": {"i": 1}})

function myDataHandler(html, parameters) {
  // html is the DOM element you can use; here the parameters are shown in it.
  const p = document.createElement('div');
  p.textContent = JSON.stringify(parameters);
  html.appendChild(p);

  // We must return an object with a method newData.
  return {
    newData: function (data) {
      // Called each time data is sent to this data handler.
      const line = document.createElement('div');
      line.className = 'customtype-line';
      line.textContent = JSON.stringify(data);
      html.appendChild(line);
    },
  };
}

dataHandlers.registerNewType('customtype', myDataHandler);

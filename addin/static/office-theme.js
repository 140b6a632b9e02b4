// The Office theme (File > Account > Office Theme) applied to the pane: Microsoft's
// guidance is to follow the document and UI themes where possible, and
// Office.context.officeTheme gives the theme's colours in Excel on Windows, Mac,
// the web and iPad (https://learn.microsoft.com/javascript/api/office/office.officetheme).
// The pane keeps its own palette (taskpane.css) and only switches to its dark one
// and takes the theme's body colours; anything that is not a #RRGGBB colour is
// ignored, so a missing or odd theme leaves the light default.

const hexColour = /^#[0-9a-f]{6}$/i;

/** Return the relative luminance (0 black to 1 white) of a #RRGGBB colour. */
function luminance(hex) {
  const channel = (index) => {
    const value = parseInt(hex.slice(index, index + 2), 16) / 255;
    return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
}

/**
 * Return {dark, background, foreground} for an Office.OfficeTheme, or null when it
 * gives no usable body background. ``isDarkTheme`` is a property in newer office.js
 * and a method in older typings; without it, a dark background decides.
 */
export function themeColours(theme) {
  if (!theme || typeof theme !== "object") {
    return null;
  }
  const background = hexColour.test(theme.bodyBackgroundColor) ? theme.bodyBackgroundColor : null;
  if (!background) {
    return null;
  }
  const foreground = hexColour.test(theme.bodyForegroundColor) ? theme.bodyForegroundColor : null;
  let dark = theme.isDarkTheme;
  if (typeof dark === "function") {
    dark = dark.call(theme);
  }
  if (typeof dark !== "boolean") {
    dark = luminance(background) < 0.4;
  }
  return { dark, background, foreground };
}

/** Apply the Office theme to ``root`` (the <html> element); return what was applied. */
export function applyOfficeTheme(theme, root = document.documentElement) {
  const colours = themeColours(theme);
  if (!colours) {
    return null;
  }
  root.classList.toggle("dark", colours.dark);
  root.style.setProperty("--body-bg", colours.background);
  if (colours.foreground) {
    root.style.setProperty("--body-fg", colours.foreground);
  }
  return colours;
}

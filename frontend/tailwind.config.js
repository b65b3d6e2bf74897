/** @type {import('tailwindcss').Config} */
// Tailwind 3 (pure JavaScript through PostCSS): it installs from a lock file on any
// platform, which Tailwind 4's native engine does not on every registry mirror.
export default {
  content: ['./index.html', './src/**/*.{ts,tsx}'],
  theme: {
    extend: {
      fontFamily: {
        sans: ['ui-sans-serif', 'system-ui', '-apple-system', '"Segoe UI"', 'Roboto', '"Helvetica Neue"', 'Arial', 'sans-serif'],
      },
    },
  },
  plugins: [],
}
